#!/usr/bin/env bash
# Install rgfactor and run the main job: site-adjusted GFA of the TCGA-LGG radiogenomics cohort.
# Extra arguments go to `rgfactor fit` (e.g. --quick, --data-root PATH, --method nuts).
echo "main job: installing rgfactor into .venv (first run: a few minutes)"
source "$(dirname "$0")/_venv.sh"
echo "main job: fitting models/lgg_radiogenomics.toml (TCGA-LGG radiomics + mutations, 5 sites)"
rgfactor fit models/lgg_radiogenomics.toml --out runs/lgg_radiogenomics "$@"
echo "report: runs/lgg_radiogenomics/report.html"
