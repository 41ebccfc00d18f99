"""Posterior draws and moments from a fitted CAVI state (NumPy; no JAX).

Draws come from the variational posterior itself: multivariate normals for Z (per subject), W
(per feature, ARD) and beta (per feature); per-entry spike-and-slab draws s * w for W; normals
for intercepts and site effects; Gamma draws for the ARD and noise precisions. The NB dispersion
is a point estimate, repeated across draws.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from rgfactor.data.arrays import ModelArrays
from rgfactor.inference.cavi_updates import CaviConfig


def _mvn(rng, mean, cov, num_draws):
    """Draws (num_draws, *mean.shape) from independent N(mean[i], cov[i]); mean (B, K), cov (B, K, K)."""
    k = mean.shape[-1]
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(k))
    eps = rng.standard_normal((num_draws,) + mean.shape)
    return mean[None] + np.einsum("bkl,sbl->sbk", chol, eps)


def _gamma(rng, a, b, num_draws):
    return rng.gamma(shape=a, scale=1.0 / b, size=(num_draws,) + np.shape(a))


def posterior_draws(arrays: ModelArrays, cfg: CaviConfig, state: dict, num_draws: int,
                    random_state: int) -> dict[str, np.ndarray]:
    """Contract-named draws with leading dims (chain=1, draw=num_draws)."""
    rng = np.random.default_rng(random_state)
    out = {"Z": _mvn(rng, state["Z_m"], state["Z_S"], num_draws)}
    for v, vs in zip(arrays.views, state["views"]):
        if cfg.spike_and_slab:
            gam = 1.0 / (1.0 + np.exp(-vs["W_logit"]))
            s = rng.random((num_draws,) + gam.shape) < gam[None]
            w = vs["W_mu"][None] + rng.standard_normal(s.shape) / np.sqrt(vs["W_lam"])[None]
            out[f"W_{v.name}"] = np.where(s, w, 0.0)
        else:
            out[f"W_{v.name}"] = _mvn(rng, vs["Ew"], vs["W_cov"], num_draws)
        out[f"alpha_{v.name}"] = _gamma(rng, vs["alpha_a"], vs["alpha_b"], num_draws)
        out[f"intercept_{v.name}"] = vs["b_m"][None] + np.sqrt(vs["b_v"])[None] * rng.standard_normal(
            (num_draws,) + vs["b_m"].shape)
        if v.likelihood == "gaussian":
            out[f"sigma_{v.name}"] = 1.0 / np.sqrt(_gamma(rng, vs["tau_a"], vs["tau_b"], num_draws))
        if v.likelihood == "negative_binomial":
            out[f"dispersion_{v.name}"] = np.broadcast_to(np.exp(vs["log_phi"]), (num_draws, v.n_features)).copy()
        if cfg.site_effects:
            out[f"site_effect_{v.name}"] = vs["u_m"][None] + np.sqrt(vs["u_v"])[None] * rng.standard_normal(
                (num_draws,) + vs["u_m"].shape)
        if cfg.covariates:
            out[f"beta_{v.name}"] = np.swapaxes(_mvn(rng, vs["B_m"].T, vs["B_cov"], num_draws), 1, 2)
    return {name: np.ascontiguousarray(x)[None] for name, x in out.items()}


def posterior_moments(arrays: ModelArrays, cfg: CaviConfig, state: dict) -> dict[str, np.ndarray]:
    """Posterior means under contract names, with ``<name>_var`` marginal variances where Gaussian."""
    out = {"Z": state["Z_m"], "Z_var": np.diagonal(state["Z_S"], axis1=1, axis2=2).copy()}
    for v, vs in zip(arrays.views, state["views"]):
        name = v.name
        out[f"W_{name}"] = vs["Ew"]
        out[f"W_{name}_var"] = np.diagonal(vs["EWW"], axis1=1, axis2=2) - vs["Ew"] ** 2
        out[f"alpha_{name}"] = vs["alpha_a"] / vs["alpha_b"]
        out[f"intercept_{name}"] = vs["b_m"]
        out[f"intercept_{name}_var"] = vs["b_v"]
        if cfg.spike_and_slab:
            out[f"inclusion_{name}"] = 1.0 / (1.0 + np.exp(-vs["W_logit"]))
            out[f"theta_{name}"] = vs["theta_a"] / (vs["theta_a"] + vs["theta_b"])
        if v.likelihood == "gaussian":   # E[tau^{-1/2}] for tau ~ Gamma(a, b)
            a, b = vs["tau_a"], vs["tau_b"]
            out[f"sigma_{name}"] = np.sqrt(b) * np.exp(gammaln(a - 0.5) - gammaln(a))
        if v.likelihood == "negative_binomial":
            out[f"dispersion_{name}"] = np.exp(vs["log_phi"])
        if cfg.site_effects:
            out[f"site_effect_{name}"] = vs["u_m"]
            out[f"site_effect_{name}_var"] = vs["u_v"]
        if cfg.covariates:
            out[f"beta_{name}"] = vs["B_m"]
            out[f"beta_{name}_var"] = np.diagonal(vs["B_cov"], axis1=1, axis2=2).T.copy()
    return {k: np.asarray(x) for k, x in out.items()}
