"""Assemble the fitted posterior: post-process, align, order, and wrap as arviz.InferenceData."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rgfactor.data.arrays import ModelArrays
from rgfactor.dims import COORDINATE, COVARIATE, FACTOR, REGION, SITE, SUBJECT, factor_labels, feature_dim
from rgfactor.generative.model import Model
from rgfactor.posterior.align import align_draws, canonical_order, rotate_draws
from rgfactor.posterior.layout import layout_draws
from rgfactor.posterior.variance import variance_explained

if TYPE_CHECKING:   # arviz is imported where it is used (rgfactor.posterior.idata.prepare)
    import arviz as az


def prepare() -> None:
    """Import what :func:`build_posterior` needs (ArviZ, which imports matplotlib; xarray's probe of the
    installed array libraries, which imports Dask where it is installed): 0.4-0.7 s in a fresh process,
    which a fit runs on its own thread while XLA compiles its first program (``while_compiling`` of the
    closed-form engine). Nothing to do once imported."""
    import arviz  # noqa: F401
    import xarray as xr

    xr.DataArray(np.zeros(1))   # xarray looks for Dask, cupy, sparse... on its first array, once per process


def postprocess_draws(draws: dict, model: Model, random_state: int = 0) -> dict:
    """Reported variables derived from the sampled ones (site_effect = site_raw * site_sd, PPLS W, ...)
    and the sampler-only helpers dropped, both by the components' declarations. ``random_state``
    seeds the variables drawn from their conditionals (ARD precisions under NUTS)."""
    out = {k: np.asarray(v) if np.issubdtype(np.asarray(v).dtype, np.floating) else np.asarray(v, dtype=float)
           for k, v in draws.items()}
    return model.reported(model.derive(out, np.random.default_rng(random_state)))


def factor_groups(model: Model) -> np.ndarray | None:
    """(K,) group label per factor from the views' activity patterns (None for GFA): factors with
    identical patterns share a label; labels are numbered by decreasing number of active views, so
    the shared factors get 0 (then view-specific ones in view order)."""
    acts = [v.loadings.activity for v in model.views]
    if all(a is None for a in acts):
        return None
    k = model.n_factors
    act = np.array([np.ones(k, dtype=int) if a is None else np.asarray(a, dtype=int) for a in acts]).T  # (K, views)
    patterns = sorted({tuple(r) for r in act}, key=lambda p: (-sum(p), [-x for x in p]))
    return np.array([patterns.index(tuple(r)) for r in act])


def posterior_means(draws: dict) -> dict:
    return {k: v.mean(axis=(0, 1)) for k, v in draws.items()}


def build_posterior(raw_draws: dict, arrays: ModelArrays, data: dict, model: Model, *,
                    sample_stats: dict | None = None, multimodal: bool = True, rotate: bool = False,
                    random_state: int = 0, method: str | None = None) -> tuple[az.InferenceData, dict]:
    """Aligned, ordered posterior as InferenceData, plus a summary dict.

    Steps: derive reported variables; for draws that may sit in several labellings (``multimodal``:
    MCMC chains), align sign/permutation across all chains and draws
    (:func:`rgfactor.posterior.align.align_draws`), and with ``rotate`` by orthogonal Procrustes
    (:func:`rotate_draws`), within groups of factors with the same activity pattern
    (:func:`factor_groups`; structured models). Draws from a mean-field variational posterior come
    from one mode, so they are not aligned (``multimodal=False``). Then order factors by total variance
    explained at the posterior mean and fix signs (:func:`canonical_order`), and lay out the draws of
    ``method`` for ArviZ (:func:`rgfactor.posterior.layout.layout_draws`: variational draws as
    pseudo-chains).

    The pointwise log-likelihood is not computed here: :func:`rgfactor.posterior.loglik.add_log_likelihood`
    adds it when LOO, ``compare`` or a report asks for it.

    Returns
    -------
    idata : groups posterior, observed_data (one variable per view, model scale, NaN = missing),
        constant_data (log size factors per view, site codes, standardised covariates), sample_stats
        when given.
    info : {'alignment': ..., 'variance_explained': (n_views, K), 'variance_explained_total': (n_views,)}.
    """
    draws = postprocess_draws(raw_draws, model, random_state)
    roles = model.variables()
    groups = factor_groups(model)
    if multimodal:
        draws, align_info = align_draws(draws, roles, groups=groups)
        if rotate:
            draws, rot_info = rotate_draws(draws, roles, groups=groups)
            align_info["rotation_iter"] = rot_info["n_iter"]
    else:
        align_info = {"n_relabelled": 0, "n_iter": 0, "note": "draws from a mean-field q (one mode): not aligned"}
    ve, ve_total = variance_explained(posterior_means(draws), data, model)
    draws, order, _ = canonical_order(draws, ve.sum(axis=0), roles, groups=groups)
    ve = ve[:, order]   # the fractions are invariant to a factor's sign

    k = model.n_factors
    # pandas Indexes, built once: ArviZ copies list coords and rebuilds an index from them for every
    # variable (0.65-0.87 s of a 1.5-3 s fit with 3,200 features)
    coords = {SUBJECT: pd.Index(arrays.subjects), FACTOR: pd.Index(factor_labels(k))}
    for v in arrays.views:
        coords[feature_dim(v.name)] = pd.Index(v.features)
    if arrays.n_sites:
        coords[SITE] = pd.Index(arrays.sites)
    if arrays.covariate_names:
        coords[COVARIATE] = pd.Index(arrays.covariate_names)
    dims = {name: list(roles[name].dims) for name in draws}
    # a complete view is stored as it is (no copy of N x D values); NaN marks missing entries otherwise
    observed = {v.name: v.y if v.mask.all() else np.where(v.mask, v.y, np.nan) for v in arrays.views}
    constant = {f"log_offset_{v.name}": v.log_offset for v in arrays.views}
    for v in arrays.views:
        dims[v.name] = [SUBJECT, feature_dim(v.name)]
        dims[f"log_offset_{v.name}"] = [SUBJECT]
        if v.level == "region":   # multi-region data: the (subject x region) rows as two dims
            r = len(arrays.regions)
            observed[v.name] = observed[v.name].reshape(-1, r, v.n_features)
            constant[f"log_offset_{v.name}"] = v.log_offset.reshape(-1, r)
            dims[v.name] = [SUBJECT, REGION, feature_dim(v.name)]
            dims[f"log_offset_{v.name}"] = [SUBJECT, REGION]
    if arrays.site is not None:
        constant["site_code"] = arrays.site
        dims["site_code"] = [SUBJECT]
    if arrays.covariates is not None:  # standardised, as the model saw them
        constant["covariates"] = arrays.covariates
        dims["covariates"] = [SUBJECT, COVARIATE]
    if arrays.coordinates is not None:   # factor_prior='gp': the locations the factors are smooth over
        constant["coordinates"] = arrays.coordinates
        dims["coordinates"] = [SUBJECT, COORDINATE]
        coords[COORDINATE] = pd.Index(arrays.coordinate_names)
        if arrays.regions:   # multi-region data: coordinates of the (subject, region) grid
            constant["coordinates"] = arrays.coordinates.reshape(arrays.n_subjects, len(arrays.regions), -1)
            dims["coordinates"] = [SUBJECT, REGION, COORDINATE]
            coords[REGION] = pd.Index(arrays.regions)
            coords.update(getattr(model.factors, "coords", {}))
    import arviz as az

    idata = az.from_dict(posterior=draws, observed_data=observed, constant_data=constant,
                         sample_stats=sample_stats, coords=coords, dims=dims)
    idata = layout_draws(idata, method)   # variational draws as pseudo-chains; attrs say what the draws are
    info = {"alignment": align_info, "variance_explained": ve, "variance_explained_total": ve_total,
            "factor_order": order.tolist()}
    return idata, info
