#!/usr/bin/env bash
# Install rgfactor and run the main job: site-adjusted GFA of the TCGA-LGG radiogenomics cohort.
# Extra arguments go to `rgfactor fit` (e.g. --quick, --data-root PATH, --method nuts).
source "$(dirname "$0")/_venv.sh"
rgfactor fit models/lgg_radiogenomics.toml --out runs/lgg_radiogenomics "$@"
echo "report: runs/lgg_radiogenomics/report.html"
