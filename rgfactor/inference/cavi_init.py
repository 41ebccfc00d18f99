"""Device arrays and the starting state of the CAVI engine.

:func:`prepare_data` turns :class:`~rgfactor.data.arrays.ModelArrays` into the float64 pytree the
compiled sweep reads; :func:`init_state` builds the first variational state, with the factors
from a PCA of the concatenated, column-standardised views.
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp
from scipy.special import gammaln
from sklearn.decomposition import PCA

from rgfactor.data.arrays import ModelArrays
from rgfactor.inference.cavi_updates import (
    POISSON_DISPERSION,
    PG_LIKELIHOODS,
    SITE_PREC_A0,
    CaviConfig,
)

INTERCEPT_PRIOR_SD = 2.5   # intercept_d ~ N(centre_d, (2.5 scale_d)^2), as in the NumPyro model
MIN_SCALE = 1e-6


# NB dispersion starts high (nearly Poisson) so that the factors, not the noise, first explain the
# between-subject variation; the dispersion updates then lower it to the residual overdispersion.
# A method-of-moments start ignores the factors, counts all biological variation as noise, and on the
# 40 TCGA glioma tumours let ARD switch every factor off within 5 sweeps.
INITIAL_DISPERSION = 100.0


def _scale(view) -> np.ndarray:
    return np.maximum(np.asarray(view.scale, dtype=np.float64), MIN_SCALE)


def prepare_data(arrays: ModelArrays, cfg: CaviConfig) -> dict:
    """Float64 jax arrays per view (y, mask, offset, centre, prior_var, scale2), site one-hot, X.

    Must be called inside ``jax.enable_x64(True)``.
    """
    views = []
    for v in arrays.views:
        scale = _scale(v)
        views.append({
            "y": jnp.asarray(np.where(v.mask, v.y, 0.0), dtype=jnp.float64),
            "mask": jnp.asarray(v.mask, dtype=jnp.float64),
            "offset": jnp.asarray(v.log_offset, dtype=jnp.float64),
            "centre": jnp.asarray(v.centre, dtype=jnp.float64),
            "prior_var": jnp.asarray((INTERCEPT_PRIOR_SD * scale) ** 2),
            "scale2": jnp.asarray(scale**2),
        })
        if v.likelihood in PG_LIKELIHOODS and v.likelihood != "bernoulli":
            views[-1]["lgamma_y1"] = jnp.asarray(gammaln(np.where(v.mask, v.y, 0.0) + 1.0))
    data = {}
    design = [np.ones((arrays.n_subjects, 1))]
    if cfg.site_effects:
        onehot = np.eye(arrays.n_sites)[np.asarray(arrays.site)]
        data["site_onehot"] = jnp.asarray(onehot)
        design.append(onehot)
    if cfg.covariates:
        x = np.asarray(arrays.covariates, dtype=np.float64)
        data["X"] = jnp.asarray(x)
        data["XX"] = jnp.asarray((x[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1))
        design.append(x)
    if any(cfg.dense):   # sufficient statistics for fully observed Gaussian views (cavi_dense)
        h = np.concatenate(design, axis=1)
        data["H"], data["HtH"] = jnp.asarray(h), jnp.asarray(h.T @ h)
        for m, v in enumerate(arrays.views):
            if cfg.is_dense(m):
                y = np.asarray(v.y, dtype=np.float64)
                views[m].update(HtY=jnp.asarray(h.T @ y), y2=jnp.asarray(np.sum(y * y, axis=0)))
    data["views"] = tuple(views)
    return data


def dense_views(arrays: ModelArrays) -> tuple[bool, ...]:
    """Per view: Gaussian, fully observed and without offset (eligible for the cavi_dense path)."""
    return tuple(v.likelihood == "gaussian" and bool(np.all(v.mask)) and not np.any(v.log_offset)
                 for v in arrays.views)


def _standardised(view) -> np.ndarray:
    """Column-standardised view for the PCA start; missing entries become the column mean (0)."""
    y = np.asarray(view.y, dtype=np.float64)
    if view.likelihood in ("negative_binomial", "poisson"):
        y = np.log1p(y / np.exp(np.asarray(view.log_offset))[:, None])
    m = np.asarray(view.mask, dtype=bool)
    n_obs = np.maximum(m.sum(axis=0), 1)
    mean = np.where(m, y, 0.0).sum(axis=0) / n_obs
    var = np.where(m, (y - mean) ** 2, 0.0).sum(axis=0) / n_obs
    sd = np.sqrt(var)
    out = np.where(m, (y - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    out[:, sd == 0] = 0.0
    return out


def pca_factors(arrays: ModelArrays, n_factors: int, random_state: int,
                site_effects: bool = False) -> np.ndarray:
    """(n_subjects, n_factors) PCA scores with unit variance.

    Each view is weighted by 1/sqrt(n_features) so that every view carries the same total
    variance. Site means (when ``site_effects``) and covariates are regressed out first, so the
    start is not spent on what those blocks explain. Components beyond the data's rank are
    filled with seeded N(0, 0.01) noise.
    """
    x = np.concatenate([_standardised(v) / np.sqrt(v.n_features) for v in arrays.views], axis=1)
    design = [np.ones((x.shape[0], 1))]
    if site_effects and arrays.site is not None:
        design.append(np.eye(arrays.n_sites)[np.asarray(arrays.site)])
    if arrays.covariates is not None:
        design.append(np.asarray(arrays.covariates, dtype=np.float64))
    design = np.concatenate(design, axis=1)
    x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    rng = np.random.default_rng(random_state)
    n_comp = min(n_factors, min(x.shape) - 1)
    z = 0.1 * rng.standard_normal((x.shape[0], n_factors))
    if n_comp >= 1:
        pca = PCA(n_components=n_comp, random_state=random_state)
        scores = pca.fit_transform(x)
        if n_comp > 1:   # rotate towards sparse loadings, which the slab / ARD priors favour
            rot = varimax(pca.components_.T * np.sqrt(pca.explained_variance_)[None, :])
            scores = scores @ rot
        sd = scores.std(axis=0)
        z[:, :n_comp] = scores / np.where(sd > 0, sd, 1.0)
    return z


def varimax(loadings: np.ndarray, max_iter: int = 100, tol: float = 1e-8) -> np.ndarray:
    """Orthogonal (K, K) rotation maximising the varimax criterion of (features, K) loadings.

    Kaiser (1958), Psychometrika 23:187; the SVD iteration of Sherin (1966).
    """
    p, k = loadings.shape
    rot = np.eye(k)
    crit = 0.0
    for _ in range(max_iter):
        lam = loadings @ rot
        u, s, vt = np.linalg.svd(loadings.T @ (lam**3 - lam @ np.diag(np.sum(lam**2, axis=0)) / p))
        rot = u @ vt
        new = np.sum(s)
        if new < crit * (1.0 + tol):
            break
        crit = new
    return rot


def init_state(arrays: ModelArrays, cfg: CaviConfig, n_factors: int, random_state: int) -> dict:
    """First variational state (see docs/cavi.md, 'Initialisation'). Inside ``jax.enable_x64(True)``."""
    z = pca_factors(arrays, n_factors, random_state, cfg.site_effects)
    n, k = z.shape
    views = []
    for v in arrays.views:
        d = v.n_features
        scale = _scale(v)
        mask = np.asarray(v.mask, dtype=bool)
        vs = {
            "Ew": np.zeros((d, k)), "EWW": np.zeros((d, k, k)),
            "alpha_a": np.ones(k), "alpha_b": np.full(k, np.mean(scale**2)),
            "b_m": np.asarray(v.centre, dtype=np.float64).copy(),
            "b_v": (0.1 * scale) ** 2,
        }
        if cfg.spike_and_slab:
            vs.update(W_mu=np.zeros((d, k)), W_lam=np.ones((d, k)), W_logit=np.zeros((d, k)),
                      W_v0=np.ones(k), theta_a=np.full(k, 1.0), theta_b=np.full(k, 1.0))
        else:
            vs.update(W_cov=np.zeros((d, k, k)), W_logdet=np.zeros(d))
        if cfg.site_effects:
            vs.update(u_m=np.zeros((arrays.n_sites, d)), u_v=np.full((arrays.n_sites, d), 1e-4),
                      g_a=np.full(d, SITE_PREC_A0), g_b=0.1 * scale**2)
        if cfg.covariates:
            c = arrays.covariates.shape[1]
            vs.update(B_m=np.zeros((c, d)), B_cov=np.zeros((d, c, c)))
        if v.likelihood == "gaussian":
            vs.update(tau_a=np.ones(d), tau_b=scale**2)
        eta0 = np.asarray(v.centre)[None, :] + np.asarray(v.log_offset)[:, None]
        if v.likelihood == "negative_binomial":
            vs["log_phi"] = np.full(d, np.log(INITIAL_DISPERSION))
        elif v.likelihood == "poisson":
            vs["log_phi"] = np.full(d, np.log(POISSON_DISPERSION))
        if v.likelihood in PG_LIKELIHOODS:
            shift = vs["log_phi"][None, :] if "log_phi" in vs else 0.0
            vs["c"] = np.abs(eta0 - shift) + np.zeros((n, d))
        views.append({key: jnp.asarray(val, dtype=jnp.float64) for key, val in vs.items()})
    return {"Z_m": jnp.asarray(z), "Z_S": jnp.asarray(np.broadcast_to(1e-2 * np.eye(k), (n, k, k)).copy()),
            "views": tuple(views), "sweep": jnp.asarray(0, dtype=jnp.int32)}
