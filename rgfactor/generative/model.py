"""The factor model, assembled from blocks; GFA, PCCA and PPLS differ only in ``ModelConfig``.

Generative process for view m, subject n, feature d (Argelaguet et al. 2018, Mol Syst Biol 14:e8124,
eq. 1-3; Klami et al. 2015, IEEE TNNLS 26:2136):

    z_n ~ N(0, I_K)
    alpha_mk ~ Gamma(a, b),  w^m_dk ~ N(0, alpha_mk^{-1/2} [x lambda_tilde_dk])
    eta^m_nd = intercept^m_d + z_n . w^m_d + u^m_{site(n), d} + x_n . beta^m_d + log s^m_n
    y^m_nd ~ p_m(y | eta^m_nd, nuisance^m_d)

with s^m_n the size factor of count views. See docs/models/gfa.md for the symbol table.

PCCA fixes which factors may load on which view (``config.activity``). PPLS (``config.response_views``;
el Bouhaddani et al. 2018) stacks z_n = [t_n, h_n / sigma_h] (2J columns): predictor views load on
t_n only, and a response view with loadings C^m loads on u_n = t_n B + h_n through the effective
loadings W^m = [C^m B, sigma_h C^m] (:func:`blocks.response_loadings`), so that z_n W^m^T = u_n C^m^T.
See docs/models/pcca.md and docs/models/ppls.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from rgfactor.data.arrays import ModelArrays
from rgfactor.generative import blocks
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.likelihoods import get as get_likelihood


def model_data(arrays: ModelArrays) -> dict:
    """Pytree of jax arrays the model function takes (from the data layer's ModelArrays)."""
    views = {v.name: {"y": jnp.asarray(v.y, jnp.float32), "mask": jnp.asarray(v.mask),
                      "log_offset": jnp.asarray(v.log_offset, jnp.float32),
                      "centre": jnp.asarray(v.centre, jnp.float32), "scale": jnp.asarray(v.scale, jnp.float32)}
             for v in arrays.views}
    out = {"views": views}
    if arrays.site is not None:
        out["site"] = jnp.asarray(arrays.site, jnp.int32)
    if arrays.covariates is not None:
        out["covariates"] = jnp.asarray(arrays.covariates, jnp.float32)
    return out


def linear_predictor(view: str, params: dict, data: dict, z: jax.Array) -> jax.Array:
    """eta (n_subjects, n_features) of ``view`` from parameter values (no sampling).

    ``params`` holds ``intercept_<view>``, ``W_<view>`` and, when present, ``site_effect_<view>``,
    ``beta_<view>``. Subjects with site code -1 (a site unseen in training) get no site effect.
    """
    vd = data["views"][view]
    eta = params[f"intercept_{view}"] + z @ params[f"W_{view}"].T + vd["log_offset"][:, None]
    key = f"site_effect_{view}"
    if key in params and "site" in data:
        site = data["site"]
        eff = params[key][jnp.clip(site, 0, None)]
        eta = eta + jnp.where((site >= 0)[:, None], eff, 0.0)
    key = f"beta_{view}"
    if key in params and "covariates" in data:
        eta = eta + data["covariates"] @ params[key]
    return eta


def view_block(view: str, likelihood: str, data: dict, config: ModelConfig, z: jax.Array,
               relation: tuple | None = None) -> None:
    """All variables of one view: ARD, loadings, intercept, site and covariate effects, nuisance, likelihood.

    ``relation`` = (B, sigma_h) of PPLS; a response view then has ARD and loadings ``ppls_C_<view>``
    over the J components and effective loadings ``W_<view>`` on the stacked [T, H_std] factors.
    """
    vd = data["views"][view]
    n_features = vd["y"].shape[1]
    response = view in config.response_views
    k = config.n_components if response else config.n_factors
    plate = "component" if response else "factor"
    alpha = blocks.ard_precision(view, k, config.ard_shape, config.ard_rate, plate)
    tau = jax.lax.rsqrt(alpha)
    if config.sparsity == "horseshoe":
        scale = tau * blocks.horseshoe_scales(view, n_features, k, tau, config.slab_scale, config.slab_df, plate)
    else:
        scale = jnp.broadcast_to(tau, (n_features, k))
    if response:
        c = blocks.loadings(view, n_features, k, scale, name=f"ppls_C_{view}", plate=plate)
        w = blocks.response_loadings(view, c, *relation)
    else:
        activity = config.activity_of(view)
        w = blocks.loadings(view, n_features, k, scale, None if activity is None else jnp.asarray(activity))
    params = {f"W_{view}": w, f"intercept_{view}": blocks.intercept(view, vd["centre"], vd["scale"])}
    if config.site_effects and config.n_sites > 0:
        params[f"site_effect_{view}"] = blocks.site_effects(view, config.n_sites, vd["scale"])
    if config.n_covariates > 0:
        params[f"beta_{view}"] = blocks.covariate_effects(view, config.n_covariates, vd["scale"])
    lik = get_likelihood(likelihood)
    nuisance = lik.sample_nuisance(view, n_features, vd["scale"])
    eta = linear_predictor(view, params, data, z)
    blocks.observe(view, lik.distribution(eta, nuisance), vd["y"], vd["mask"])


def factor_model(data: dict, config: ModelConfig) -> None:
    """The joint model: shared factors ``Z`` and one :func:`view_block` per view (PPLS: plus the
    inner relation B, sigma_h shared by the response views)."""
    n_subjects = next(iter(data["views"].values()))["y"].shape[0]
    z = blocks.factors(n_subjects, config.n_factors)
    relation = blocks.inner_relation(config.n_components) if config.response_views else None
    for view, likelihood, _ in config.views:
        view_block(view, likelihood, data, config, z, relation)


def config_from_arrays(arrays: ModelArrays, n_factors: int, *, sparsity: str = "ard", site_effects: bool = False,
                       activity: dict[str, np.ndarray] | None = None, response_views: tuple = (),
                       **priors) -> ModelConfig:
    """ModelConfig for a cohort: view shapes, sites and covariates read from ``arrays``."""
    act = None
    if activity is not None:
        act = tuple((v.name, tuple(int(a) for a in activity[v.name])) for v in arrays.views)
    return ModelConfig(
        views=tuple((v.name, v.likelihood, v.n_features) for v in arrays.views),
        n_factors=n_factors, sparsity=sparsity, site_effects=site_effects and arrays.n_sites > 0,
        n_sites=arrays.n_sites, n_covariates=0 if arrays.covariates is None else arrays.covariates.shape[1],
        activity=act, response_views=tuple(response_views), **priors)
