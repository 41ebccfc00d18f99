"""Save and load fitted models: NetCDF (InferenceData) + JSON, no pickle."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import arviz as az
import numpy as np

from rgfactor.data.preprocess import Preprocessing
from rgfactor.errors import RGFactorError
from rgfactor.generative.config import config_from_dict, config_to_dict

FORMAT_VERSION = 1


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def versions() -> dict:
    import arviz
    import jax
    import numpyro

    import rgfactor

    return {"rgfactor": rgfactor.__version__, "jax": jax.__version__, "numpyro": numpyro.__version__,
            "arviz": arviz.__version__, "numpy": np.__version__}


def write_fit(model, directory) -> None:
    """Write posterior.nc and model.json of a fitted estimator into an existing ``directory``."""
    directory = Path(directory)
    model.idata_.to_netcdf(str(directory / "posterior.nc"))
    meta = {"format_version": FORMAT_VERSION, "class": type(model).__name__, "params": model.get_params(),
            "config": config_to_dict(model.config_), "preprocessing": model.preprocessing_.to_dict(),
            "diagnostics": model.diagnostics_, "variance_explained": model.variance_explained_,
            "variance_explained_total": model.variance_explained_total_, "versions": versions()}
    (directory / "model.json").write_text(json.dumps(write_json_safe(meta), indent=1))


def write_json_safe(x):
    """Nested dicts/lists/arrays as plain JSON types."""
    return _jsonable(x)


def atomic_directory(path, fill) -> Path:
    """Create directory ``path`` all at once: ``fill(tmp_dir)`` writes into a hidden sibling, which
    replaces ``path`` only when ``fill`` returns; on failure nothing is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def save_fit(model, path) -> None:
    """Write ``model`` (a fitted estimator) to directory ``path``, atomically (all or nothing)."""
    atomic_directory(path, lambda tmp: write_fit(model, tmp))


def read_fit(path) -> tuple[dict, az.InferenceData]:
    """(model.json contents, InferenceData loaded into memory) of a fit written by :func:`save_fit`."""
    path = Path(path)
    try:
        meta = json.loads((path / "model.json").read_text())
    except FileNotFoundError:
        raise RGFactorError(f"no fitted model at '{path}' (model.json missing).") from None
    idata = az.from_netcdf(str(path / "posterior.nc"))
    for g in idata.groups():
        getattr(idata, g).load()
    return meta, idata


def restore(model, meta: dict, idata: az.InferenceData):
    """Set the fitted attributes of an estimator ``model`` from a fit's metadata and posterior."""
    model.idata_ = idata
    model.config_ = config_from_dict(meta["config"])
    model.preprocessing_ = Preprocessing.from_dict(meta["preprocessing"])
    model.diagnostics_ = meta["diagnostics"]
    model.variance_explained_ = np.asarray(meta["variance_explained"])
    model.variance_explained_total_ = np.asarray(meta["variance_explained_total"])
    return model
