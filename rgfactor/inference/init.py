"""PCA-based initialisation of factors and loadings (all engines)."""

from __future__ import annotations

from functools import partial

import numpy as np

from rgfactor.data.arrays import ModelArrays, ViewArrays
from rgfactor.data.kinds import data_kind
from rgfactor.data.regions import region_means


def _link_scale(v: ViewArrays) -> tuple[np.ndarray, float]:
    """Approximate link-scale values of a view and the slope converting a covariance to a loading."""
    kind = data_kind(v.likelihood)
    if kind == "count":
        return np.log1p(v.y / np.exp(v.log_offset)[:, None]), 1.0
    if kind == "binary":
        return v.y, 4.0  # logistic slope at p = 1/2
    return v.y, 1.0


def pca_init(arrays: ModelArrays, n_factors: int, random_state: int = 0) -> dict[str, np.ndarray]:
    """Initial ``Z``, ``W_<view>`` and ``intercept_<view>`` from a PCA of all views.

    Each view is put on an approximate link scale (log1p of size-factor-normalised counts, 0/1 for
    Bernoulli), its features centred and scaled on observed entries, missing entries set to 0 (for
    the initialisation only), and the view weighted by 1/sqrt(n_features) so that no view dominates.
    Z is the leading K principal-component scores scaled to unit variance; W_<view> the regression of
    the view on Z. Components beyond the data's rank are filled with small noise.

    ARD precisions start at 1 / mean(w^2) per factor and Gaussian noise sds at the residual sd of
    the rank-K fit.

    Returns
    -------
    dict with 'Z' (n_subjects, K) and, per view, 'W_<view>' (n_features, K), 'intercept_<view>'
    (n_features,), 'alpha_<view>' (K,), and 'sigma_<view>' (n_features,) for Gaussian views.
    """
    from sklearn.decomposition import PCA   # 0.1-0.2 s to import; the closed-form engine starts elsewhere

    rng = np.random.default_rng(random_state)
    arrays = region_means(arrays)   # multi-region data: region-level views averaged over each subject's regions
    blocks, stats = [], {}
    for v in arrays.views:
        x, slope = _link_scale(v)
        m = v.mask
        cnt = np.maximum(m.sum(0), 1)
        mean = (x * m).sum(0) / cnt
        sd = np.sqrt((((x - mean) ** 2) * m).sum(0) / cnt)
        sd = np.where(sd > 0, sd, 1.0)
        xs = np.where(m, (x - mean) / sd, 0.0)
        stats[v.name] = (xs, sd, slope)
        blocks.append(xs / np.sqrt(v.n_features))
    big = np.concatenate(blocks, axis=1)
    k_fit = min(n_factors, *big.shape)
    pca = PCA(n_components=k_fit, svd_solver="full" if min(big.shape) <= 500 else "randomized",
              random_state=random_state)
    scores = pca.fit_transform(big)
    z = np.concatenate([scores, rng.normal(0.0, 0.1, size=(big.shape[0], n_factors - k_fit))], axis=1)
    z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    init = {"Z": z}
    n = z.shape[0]
    for v in arrays.views:
        xs, sd, slope = stats[v.name]
        w = slope * sd[:, None] * (xs.T @ z) / n
        init[f"W_{v.name}"] = w
        init[f"intercept_{v.name}"] = np.asarray(v.centre, dtype=float)
        init[f"alpha_{v.name}"] = 1.0 / np.maximum((w**2).mean(0), 1e-3)  # ARD: 1 / E[w^2]
        if data_kind(v.likelihood) == "real":  # residual sd of the rank-K fit, on observed entries
            resid = np.where(v.mask, xs - z @ (xs.T @ z / n).T, 0.0)
            rsd = np.sqrt((resid**2).sum(0) / np.maximum(v.mask.sum(0), 1)) * sd
            init[f"sigma_{v.name}"] = np.maximum(rsd, 0.05 * sd)
    return init


def _values_then_median(site=None, values=None):
    from numpyro.infer import init_to_median

    if site is None:
        return partial(_values_then_median, values=values)
    if site["type"] == "sample" and not site["is_observed"] and site["name"] in values:
        return values[site["name"]]
    return init_to_median(site)


def init_strategy(values: dict):
    """NumPyro init strategy: ``values`` where given, the prior median (15 draws) elsewhere.

    (numpyro's ``init_to_value`` falls back to uniform(-2, 2) on the unconstrained scale, which
    starts some noise sds at 0.13 and lets a few features dominate the first SVI steps.)
    """
    return values_then_median({k: np.asarray(v) for k, v in values.items()})


def values_then_median(values: dict):
    """:func:`init_strategy` without converting ``values`` (which may be traced arrays inside a compiled
    program)."""
    return partial(_values_then_median, values=values)
