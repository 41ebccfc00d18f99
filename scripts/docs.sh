#!/usr/bin/env bash
# Build the documentation site (Sphinx, PyData theme) into docs/_build/html with warnings as errors.
# Tutorials (docs/tutorials/*.md, MyST notebooks) are executed on the shared cohorts (../shared/data)
# and cached in docs/_build/.jupyter_cache, so a rebuild re-runs only notebooks whose code changed (the
# cache does not see changes in rgfactor itself: rm -rf docs/_build after those).
#   RGFACTOR_DOCS_QUICK=1     reduced settings in the tutorials (fewer features, factors, folds)
#   RGFACTOR_DOCS_EXECUTE=off build without executing the tutorials (their code is shown, no outputs)
# Extra arguments go to sphinx-build (e.g. -E to rebuild every page).
source "$(dirname "$0")/_venv.sh" "[docs]"
export RGFACTOR_DOCS_EXECUTE="${RGFACTOR_DOCS_EXECUTE:-cache}"
python -m sphinx -W --keep-going -n -b html "$@" docs docs/_build/html
echo "docs: docs/_build/html/index.html"
