"""Shared set-up of the tutorials: where the shared cohorts are and whether to run reduced settings.

RGFACTOR_DATA_ROOT: folder of the datasets (default ../shared/data from the project root).
RGFACTOR_DOCS_QUICK=1: reduced settings (the 107 'original' radiomic features, fewer factors and draws)
so that the documentation builds in minutes; the full settings reproduce models/lgg_radiogenomics.toml.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RGFACTOR_DATA_ROOT", ROOT.parent / "shared" / "data"))
QUICK = os.environ.get("RGFACTOR_DOCS_QUICK", "0") == "1"
LGG = DATA / "tcga_lgg_radiogenomics"
RADIOMIC_FEATURES = "original" if QUICK else "all"
N_FACTORS = 5 if QUICK else 10
NUM_DRAWS = 100 if QUICK else 500

import warnings  # noqa: E402

# warnings stay visible in the rendered tutorials, one line each, without source paths
warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\n"
warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm's notebook widget, not used
