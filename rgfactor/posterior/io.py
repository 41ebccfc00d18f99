"""Save and load fitted models: NetCDF (InferenceData) + JSON, no pickle."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import arviz as az
import numpy as np

from rgfactor.data.preprocess import Preprocessing, ViewPreprocessing
from rgfactor.errors import FitFileError
from rgfactor.generative.config import ModelConfig, config_from_dict, config_to_dict
from rgfactor.posterior.fsio import atomic_directory

# 2: Gaussian noise sampled as tau = 1/sigma^2 (0.2); log-likelihood group optional. Version 1 fits load.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
# model.json: key -> type
SCHEMA = {"format_version": int, "class": str, "params": dict, "config": dict, "preprocessing": dict,
          "diagnostics": dict, "variance_explained": list, "variance_explained_total": list}
OPTIONAL = {"versions": dict}


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


def save_fit(model, path) -> None:
    """Write ``model`` (a fitted estimator) to directory ``path``, atomically (all or nothing)."""
    atomic_directory(path, lambda tmp: write_fit(model, tmp))


def _fail(path: Path, what: str, way_out: str = "re-run the fit, or restore the directory from a copy") -> None:
    raise FitFileError(f"cannot load the fit in '{path}': {what}; {way_out}.")


def read_meta(path: Path, known_classes) -> dict:
    """model.json of the fit in ``path``, validated against :data:`SCHEMA` (and the estimator classes)."""
    if not path.exists():
        raise FitFileError(f"no fit at '{path}': the path does not exist.")
    if not path.is_dir():
        raise FitFileError(f"'{path}' is a file; rgf.load expects the directory written by model.save(path).")
    file = path / "model.json"
    if not file.exists():
        raise FitFileError(f"no fitted model at '{path}' (model.json missing); rgf.load expects the directory "
                           "written by model.save(path) or by 'rgfactor fit'.")
    try:
        meta = json.loads(file.read_text())
    except UnicodeDecodeError:
        _fail(path, "model.json is not a text file")
    except json.JSONDecodeError as e:
        _fail(path, f"model.json is damaged (not valid JSON: {e.msg} at line {e.lineno})")
    if not isinstance(meta, dict):
        _fail(path, "model.json does not hold a JSON object")
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        _fail(path, f"it was written in format {version} by a newer rgfactor (this one reads {READABLE_FORMATS})",
              "upgrade rgfactor")
    if isinstance(version, int) and version not in READABLE_FORMATS:
        _fail(path, f"format {version} is older than this rgfactor reads ({READABLE_FORMATS})",
              "re-fit with this version")
    missing = [k for k in SCHEMA if k not in meta]
    if missing:
        _fail(path, f"model.json lacks {missing}")
    wrong = [f"{k} ({type(meta[k]).__name__}, expected {t.__name__})" for k, t in SCHEMA.items()
             if not isinstance(meta[k], t) or (t is int and isinstance(meta[k], bool))]
    if wrong:
        _fail(path, f"model.json has wrong types: {wrong}")
    unknown = sorted(set(meta) - set(SCHEMA) - set(OPTIONAL))
    if unknown:
        _fail(path, f"model.json has unknown key(s) {unknown}")
    if meta["class"] not in known_classes:
        _fail(path, f"it holds an unknown model class '{meta['class']}' (known: {sorted(known_classes)})")
    bad = sorted(set(meta["config"]) - {f.name for f in fields(ModelConfig)})
    if bad:
        _fail(path, f"model.json's config has unknown key(s) {bad}")
    for view, vp in meta["preprocessing"].get("views", {}).items():
        bad = sorted(set(vp) - {f.name for f in fields(ViewPreprocessing)}) if isinstance(vp, dict) else ["?"]
        if bad:
            _fail(path, f"model.json's preprocessing of view '{view}' has unknown key(s) {bad}")
    return meta


def read_idata(path: Path) -> az.InferenceData:
    """posterior.nc of the fit in ``path``, loaded into memory."""
    file = path / "posterior.nc"
    if not file.exists():
        _fail(path, "posterior.nc is missing")
    try:
        idata = az.from_netcdf(str(file))
        for g in idata.groups():
            getattr(idata, g).load()
    except Exception as e:   # netCDF/HDF5 readers raise OSError, ValueError, KeyError, ... on damaged files
        _fail(path, f"posterior.nc is damaged or not a NetCDF file ({type(e).__name__}: {str(e)[:120]})")
    if "posterior" not in idata.groups():
        _fail(path, "posterior.nc has no posterior group")
    return idata


def check_consistent(path: Path, meta: dict, idata: az.InferenceData) -> None:
    """posterior.nc must be the posterior of the model in model.json: factors, views, features, subjects."""
    try:
        config = config_from_dict(meta["config"])
    except (TypeError, ValueError, KeyError) as e:
        _fail(path, f"model.json's config is invalid ({e})")
    post = idata.posterior
    if "Z" not in post or post["Z"].sizes.get("factor") != config.n_factors:
        _fail(path, f"posterior.nc has {post['Z'].sizes.get('factor') if 'Z' in post else 'no'} factors where model.json "
                    f"says {config.n_factors}: the two files come from different fits")
    for view, _, n_features in config.views:
        var = f"W_{view}"
        if var not in post:
            _fail(path, f"posterior.nc lacks the loadings of view '{view}' named in model.json")
        if post[var].sizes.get(f"{view}_feature") != n_features:
            _fail(path, f"view '{view}' has {post[var].sizes.get(f'{view}_feature')} features in posterior.nc and "
                        f"{n_features} in model.json: the two files come from different fits")
        feats = meta["preprocessing"].get("views", {}).get(view, {}).get("features")
        if feats is not None and list(map(str, post[var][f"{view}_feature"].values)) != list(feats):
            _fail(path, f"view '{view}': the feature names of posterior.nc and model.json differ")
    if "observed_data" in idata.groups():
        n_obs = {idata.observed_data[v].sizes.get("subject") for v in idata.observed_data.data_vars}
        if n_obs != {post["Z"].sizes["subject"]}:
            _fail(path, "posterior.nc's subjects differ between its groups")


def read_fit(path, known_classes=None) -> tuple[dict, az.InferenceData]:
    """(model.json contents, InferenceData loaded into memory) of a fit written by :func:`save_fit`,
    validated before it is trusted.

    Raises
    ------
    FitFileError  naming the file and the way out: no fit at the path, a path that is a file, damaged
        or foreign files, a format written by a newer (or too old) rgfactor, a model.json that fails the
        schema, a posterior.nc that does not belong to the model.json beside it.
    """
    path = Path(path)
    meta = read_meta(path, set(known_classes) if known_classes is not None else {"GFA", "PCCA", "PPLS"})
    idata = read_idata(path)
    check_consistent(path, meta, idata)
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
