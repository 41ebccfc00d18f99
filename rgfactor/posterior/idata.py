"""Assemble the fitted posterior: post-process, align, order, and wrap as arviz.InferenceData."""

from __future__ import annotations

import arviz as az
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.dims import COVARIATE, FACTOR, SITE, SUBJECT, factor_labels, feature_dim
from rgfactor.generative.config import ModelConfig
from rgfactor.posterior.align import align_draws, canonical_order, rotate_draws
from rgfactor.posterior.loglik import subject_log_likelihood
from rgfactor.posterior.variance import variance_explained

# sampled helper variables that are not part of the reported posterior (documented in docs/models/gfa.md)
DROPPED_PREFIXES = ("site_raw_", "lambda_", "ppls_B", "ppls_C_")


def variable_dims(name: str) -> list[str]:
    """Dims (after chain, draw) of a posterior variable, from its name."""
    if name == "Z":
        return [SUBJECT, FACTOR]
    prefix, _, view = name.partition("_")
    if name.startswith("site_effect_"):
        return [SITE, feature_dim(name[len("site_effect_"):])]
    if name.startswith("site_sd_"):
        return [feature_dim(name[len("site_sd_"):])]
    if prefix == "W":
        return [feature_dim(view), FACTOR]
    if prefix == "alpha":
        return [FACTOR]
    if prefix == "beta":
        return [COVARIATE, feature_dim(view)]
    if prefix in ("intercept", "sigma", "dispersion"):
        return [feature_dim(view)]
    return []


def postprocess_draws(draws: dict) -> dict:
    """Derive reported variables (site_effect = site_raw * site_sd) and drop sampler-only helpers."""
    out = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
    for k in list(out):
        if k.startswith("site_raw_"):
            view = k[len("site_raw_"):]
            if f"site_effect_{view}" not in out:
                out[f"site_effect_{view}"] = out[k] * out[f"site_sd_{view}"][:, :, None, :]
        if k.startswith("ppls_C_"):  # PPLS response view: effective loadings on [T, H_std]
            view = k[len("ppls_C_"):]
            c, b, sh = out[k], out["ppls_B"][:, :, None, :], out["ppls_sigma_h"][:, :, None, None]
            if f"W_{view}" not in out:  # SVI guides do not return deterministic sites
                out[f"W_{view}"] = np.concatenate([c * b, c * sh], axis=-1)
            if out[f"alpha_{view}"].shape[-1] == c.shape[-1]:  # ARD of C acts on both blocks of W
                out[f"alpha_{view}"] = np.concatenate([out[f"alpha_{view}"]] * 2, axis=-1)
    return {k: v for k, v in out.items() if not k.startswith(DROPPED_PREFIXES)}


def factor_groups(config: ModelConfig) -> np.ndarray | None:
    """(K,) group label per factor from the activity pattern (None for GFA): factors with identical
    patterns share a label; labels are numbered by decreasing number of active views, so the shared
    factors get 0 (then view-specific ones in view order)."""
    if config.activity is None:
        return None
    act = np.array([a for _, a in config.activity]).T  # (K, n_views)
    patterns = sorted({tuple(r) for r in act}, key=lambda p: (-sum(p), [-x for x in p]))
    return np.array([patterns.index(tuple(r)) for r in act])


def posterior_means(draws: dict) -> dict:
    return {k: v.mean(axis=(0, 1)) for k, v in draws.items()}


def build_posterior(raw_draws: dict, arrays: ModelArrays, data: dict, config: ModelConfig, *,
                    sample_stats: dict | None = None, rotate: bool = False) -> tuple[az.InferenceData, dict]:
    """Aligned, ordered posterior as InferenceData, plus a summary dict.

    Steps: derive reported variables; align sign/permutation across all chains and draws
    (:func:`rgfactor.posterior.align.align_draws`), and with ``rotate`` by orthogonal Procrustes
    (:func:`rotate_draws`), within groups of factors with the same activity pattern
    (:func:`factor_groups`; structured models); order factors by total variance explained
    and fix signs (:func:`canonical_order`); compute log-likelihood per view and subject.

    Returns
    -------
    idata : groups posterior, log_likelihood (one variable per view, dims chain, draw, subject),
        observed_data (one variable per view, model scale, NaN = missing), constant_data
        (log size factors per view, site codes, standardised covariates), sample_stats when given.
    info : {'alignment': ..., 'variance_explained': (n_views, K), 'variance_explained_total': (n_views,)}.
    """
    draws = postprocess_draws(raw_draws)
    for view in config.view_names:  # structured models: the sampled W of an inactive factor is not used
        act = config.activity_of(view)
        if act is not None:
            draws[f"W_{view}"] = draws[f"W_{view}"] * act
    groups = factor_groups(config)
    draws, align_info = align_draws(draws, groups=groups)
    if rotate:
        draws, rot_info = rotate_draws(draws, groups=groups)
        align_info["rotation_iter"] = rot_info["n_iter"]
    ve, _ = variance_explained(posterior_means(draws), data, config)
    draws, order, _ = canonical_order(draws, ve.sum(axis=0), groups=groups)
    ve, ve_total = variance_explained(posterior_means(draws), data, config)
    loglik = subject_log_likelihood(draws, data, config)

    k = config.n_factors
    coords = {SUBJECT: list(arrays.subjects), FACTOR: factor_labels(k)}
    for v in arrays.views:
        coords[feature_dim(v.name)] = list(v.features)
    if arrays.n_sites:
        coords[SITE] = list(arrays.sites)
    if arrays.covariate_names:
        coords[COVARIATE] = list(arrays.covariate_names)
    dims = {name: variable_dims(name) for name in draws}
    observed = {v.name: np.where(v.mask, v.y, np.nan) for v in arrays.views}
    constant = {f"log_offset_{v.name}": v.log_offset for v in arrays.views}
    for v in arrays.views:
        dims[v.name] = [SUBJECT, feature_dim(v.name)]
        dims[f"log_offset_{v.name}"] = [SUBJECT]
    if arrays.site is not None:
        constant["site_code"] = arrays.site
        dims["site_code"] = [SUBJECT]
    if arrays.covariates is not None:  # standardised, as the model saw them
        constant["covariates"] = arrays.covariates
        dims["covariates"] = [SUBJECT, COVARIATE]
    log_lik_dims = {v: [SUBJECT] for v in loglik}
    idata = az.from_dict(posterior=draws, log_likelihood=loglik, observed_data=observed, constant_data=constant,
                         sample_stats=sample_stats, coords=coords, dims={**dims, **log_lik_dims})
    info = {"alignment": align_info, "variance_explained": ve, "variance_explained_total": ve_total,
            "factor_order": order.tolist()}
    return idata, info
