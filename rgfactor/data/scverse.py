"""The scverse formats in and out: AnnData (``.h5ad``) and MuData (``.h5mu``).

In: each modality of a MuData (or each group of an AnnData's variables) is a view, its ``obs_names``
the subject IDs and its ``var_names`` the features; site and covariates are ``obs`` columns. Out: the
factors go to ``obsm["X_rgfactor"]`` (subject x factor) and each modality's loadings to
``varm["W_rgfactor"]`` (feature x factor), as muon writes MOFA+'s ``X_mofa``/``LFs``.

``anndata`` and ``mudata`` are optional (``pip install rgfactor[scverse]``) and imported only here,
when used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rgfactor.data.checks import subject_id
from rgfactor.dims import FACTOR, VIEW
from rgfactor.errors import DataError

OBSM_KEY = "X_rgfactor"
VARM_KEY = "W_rgfactor"
UNS_KEY = "rgfactor"


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"reading/writing {'MuData' if module == 'mudata' else 'AnnData'} needs the optional "
                          f"package '{module}': pip install 'rgfactor[scverse]'.") from None


def read(obj, module: str):
    """``obj``, or the file it names read with ``mudata.read_h5mu`` / ``anndata.read_h5ad`` (``module``)."""
    if isinstance(obj, (str, Path)):
        return getattr(_require(module), "read_h5mu" if module == "mudata" else "read_h5ad")(str(obj))
    return obj


def on_subjects(frame: pd.DataFrame | None, views: dict) -> pd.DataFrame | None:
    """The rows of ``frame`` (indexed by ``obs_names``) of the views' subjects: a MuData's obs also holds
    the observations of modalities that are not views."""
    if frame is None:
        return None
    subjects = {s for df in views.values() for s in df.index}
    return frame[[s in subjects for s in frame.index]]


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)


def modality_frame(adata, what: str, layer: str | None = None) -> pd.DataFrame:
    """An AnnData's matrix (``X`` or ``layers[layer]``; sparse allowed) as a (subject, feature) DataFrame."""
    if layer is None:
        x = adata.X
        if x is None:
            raise DataError(f"{what} has no X matrix; name a layer (layers={{...}}), one of {list(adata.layers)}.")
    elif layer not in adata.layers:
        raise DataError(f"{what} has no layer '{layer}'; its layers: {list(adata.layers)}.")
    else:
        x = adata.layers[layer]
    return pd.DataFrame(_dense(x), index=list(adata.obs_names), columns=list(adata.var_names))


def obs_columns(obs: pd.DataFrame, what: str, site: str | None, covariates) -> tuple:
    """Site Series and covariates DataFrame from ``obs`` columns (None when not named)."""
    names = ([site] if site else []) + list(covariates or [])
    missing = [c for c in names if c not in obs.columns]
    if missing:
        raise DataError(f"{what}.obs has no column(s) {missing}; its columns: {list(obs.columns)[:15]}.")
    return (obs[site] if site else None), (obs[list(covariates)] if covariates else None)


def _with_obs(views: dict, obs: pd.DataFrame, what: str, site, covariates) -> tuple:
    site_s, cov = obs_columns(obs, what, site, covariates)
    subjects = pd.Index(pd.unique(pd.Index([s for df in views.values() for s in df.index])))
    return views, (None if site_s is None else site_s.reindex(subjects)), (None if cov is None else cov.reindex(subjects))


def coordinates_frame(container, key, what: str, modalities: dict | None = None) -> pd.DataFrame:
    """The subjects' coordinates (subject, coordinate) read from an AnnData or MuData, for the
    ``coordinates=`` of :meth:`MultiViewData.from_anndata` / :meth:`~MultiViewData.from_mudata`.

    Parameters
    ----------
    container : the AnnData or MuData.
    key : a str: ``obsm[key]`` (the scverse convention: squidpy and scanpy keep spot/cell positions in
        ``obsm["spatial"]``, an (n_obs, 2) array), or, when no ``obsm`` entry has that name, one ``obs``
        column (a 1-D coordinate such as time or depth); ``"<modality>:<key>"`` reads a MuData modality's
        own ``obsm``. A list of str: ``obs`` columns (e.g. ``["x", "y"]``). An array ``obsm`` entry's
        columns are named ``<key>1``, ``<key>2``, ... (scanpy's axis names, e.g. spatial1, spatial2); a
        DataFrame entry keeps its column names.
    what : 'AnnData' or 'MuData' (messages).
    modalities : the MuData's modalities (``mdata.mod``), for ``"<modality>:<key>"``.

    Returns
    -------
    DataFrame indexed by ``obs_names`` (validated against the views' subjects by :meth:`from_pandas`).

    Raises
    ------
    DataError  naming the key: not in ``obsm`` nor ``obs``, an unknown modality, an ``obsm`` entry that is
        not (n_obs, 1-3) numeric.
    """
    if isinstance(key, str) and ":" in key and modalities is not None and key not in container.obsm \
            and key not in container.obs.columns:
        mod, sub = key.split(":", 1)
        if mod not in modalities:
            raise DataError(f"coordinates='{key}': the MuData has no modality '{mod}'; its modalities: {list(modalities)}.")
        return coordinates_frame(modalities[mod], sub, f"modality '{mod}'")
    obs = container.obs
    if isinstance(key, str) and key in container.obsm:
        value = container.obsm[key]
        if isinstance(value, pd.DataFrame):
            frame = value.set_axis(list(container.obs_names), axis=0)
        else:
            x = _dense(value) if np.ndim(value) == 2 else np.full((len(obs), 0), np.nan)
            frame = pd.DataFrame(x, index=list(container.obs_names), columns=[f"{key}{i + 1}" for i in range(x.shape[1])])
        if not 1 <= frame.shape[1] <= 3:
            raise DataError(f"{what}.obsm['{key}'] has {frame.shape[1]} columns; coordinates take 1 to 3 (x/y/z, "
                            "depth, time). Pass the columns to use as obs columns, or another obsm key.")
        return frame
    names = [key] if isinstance(key, str) else list(key)
    missing = [c for c in names if c not in obs.columns]
    if missing:
        raise DataError(f"coordinates={key!r}: {what} has no obsm['{missing[0]}'] and no obs column(s) {missing}; its "
                        f"obsm keys: {list(container.obsm)}, obs columns: {list(obs.columns)[:15]}.")
    return obs[names]


def mudata_views(mdata, likelihoods: dict, site: str | None = None, covariates=None,
                 layers: dict | None = None) -> tuple[dict, pd.Series | None, pd.DataFrame | None]:
    """(views, site, covariates) of a MuData or ``.h5mu`` path for :meth:`MultiViewData.from_mudata`.

    Raises
    ------
    DataError  naming the modality, layer or ``obs`` column at fault.
    ImportError  without the optional package ``mudata`` (for a path).
    """
    mdata = read(mdata, "mudata")
    unknown = [m for m in likelihoods if m not in mdata.mod]
    if unknown:
        raise DataError(f"MuData has no modality {unknown}; its modalities: {list(mdata.mod)}.")
    layers = dict(layers or {})
    views = {m: modality_frame(mdata.mod[m], f"modality '{m}'", layers.get(m)) for m in likelihoods}
    return _with_obs(views, mdata.obs, "MuData", site, covariates)


def anndata_views(adata, likelihoods: dict, view_key: str | None = None, layer: str | None = None,
                  site: str | None = None, covariates=None) -> tuple[dict, pd.Series | None, pd.DataFrame | None]:
    """(views, site, covariates) of an AnnData or ``.h5ad`` path for :meth:`MultiViewData.from_anndata`.

    Raises
    ------
    DataError  naming the view, ``var``/``obs`` column or layer at fault.
    ImportError  without the optional package ``anndata`` (for a path).
    """
    adata = read(adata, "anndata")
    frame = modality_frame(adata, "AnnData", layer)
    if view_key is None:
        if len(likelihoods) != 1:
            raise DataError(f"an AnnData without view_key is one view; got likelihoods for {list(likelihoods)}. "
                            "Name the var column that assigns features to views (view_key=...).")
        views = {next(iter(likelihoods)): frame}
    else:
        if view_key not in adata.var.columns:
            raise DataError(f"AnnData.var has no column '{view_key}' (view_key); its columns: {list(adata.var.columns)}.")
        kinds = adata.var[view_key].astype(str).to_numpy()
        unknown = [v for v in likelihoods if v not in set(kinds)]
        if unknown:
            raise DataError(f"AnnData.var['{view_key}'] has no value {unknown}; its values: {sorted(set(kinds))}.")
        views = {v: frame.loc[:, kinds == v] for v in likelihoods}
    return _with_obs(views, adata.obs, "AnnData", site, covariates)


def _aligned(values, index, target, what: str) -> np.ndarray:
    """Rows of ``values`` (indexed by ``index``) placed on ``target`` names; NaN where absent."""
    pos = {subject_id(k): i for i, k in enumerate(index)}
    rows = [pos.get(subject_id(t), -1) for t in target]
    if all(r < 0 for r in rows):
        raise DataError(f"{what}: none of its names occurs in the fit (first: {list(target[:3])}); was the "
                        "model fitted to these data?")
    out = np.full((len(target), values.shape[1]), np.nan)
    hit = np.array(rows) >= 0
    out[hit] = values[np.array(rows)[hit]]
    return out


def write_mudata(mdata, factors, loadings: dict, variance_explained=None):
    """Write a fit into a MuData (or an AnnData for a one-view fit), in place; returns it.

    Parameters
    ----------
    mdata : mudata.MuData (or anndata.AnnData) holding the fitted subjects and features.
    factors : DataArray (subject, factor): ``obsm["X_rgfactor"]``, rows in ``obs_names`` order; NaN
        for observations not in the fit.
    loadings : dict view -> DataArray (<view>_feature, factor): ``mod[view].varm["W_rgfactor"]``
        (NaN for features not in the fit, e.g. constant features dropped).
    variance_explained : optional DataArray (view, factor), stored with the factor names in ``uns["rgfactor"]``.

    Raises
    ------
    DataError  if a view is not a modality of ``mdata``, or no subject/feature name matches the fit.
    """
    is_mudata = hasattr(mdata, "mod")
    if not is_mudata and len(loadings) != 1:
        raise DataError(f"an AnnData takes the loadings of a one-view fit; this fit has views {list(loadings)}: "
                        "write it into a MuData with one modality per view.")
    names = [str(f) for f in factors[FACTOR].values]
    mdata.obsm[OBSM_KEY] = _aligned(np.asarray(factors.values), factors[factors.dims[0]].values,
                                    list(mdata.obs_names), "obs_names")
    for view, w in loadings.items():
        if is_mudata and view not in mdata.mod:
            raise DataError(f"view '{view}' of the fit is not a modality of the MuData ({list(mdata.mod)}).")
        target = mdata.mod[view] if is_mudata else mdata
        target.varm[VARM_KEY] = _aligned(np.asarray(w.values), w[w.dims[0]].values, list(target.var_names),
                                         f"modality '{view}' var_names")
    uns = {"factors": names}
    if variance_explained is not None:
        uns["variance_explained"] = {str(v): np.asarray(variance_explained.sel({VIEW: v}).values, dtype=float)
                                     for v in variance_explained[VIEW].values}
    mdata.uns[UNS_KEY] = uns
    return mdata
