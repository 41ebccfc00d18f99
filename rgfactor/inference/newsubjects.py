"""Factors and predictions for unseen subjects, given the fitted global parameters.

For a new subject n the global parameters (loadings, intercepts, site and covariate effects,
nuisance) are fixed at their posterior means (a plug-in approximation) and the posterior of z_n
is approximated by Laplace's method (Tierney & Kadane 1986): Newton iterations to the mode of

    log p(z_n) + sum_m sum_{d observed} log p(y^m_nd | eta^m_nd(z_n)),

with log p(z_n) the factor prior's (in the reported parameterisation), which is concave in z_n for
every registered likelihood (Gaussian; Bernoulli-logit; Poisson and negative binomial with log link
and fixed dispersion), and covariance minus the inverse Hessian there. Views a subject lacks simply
drop out of the sum, so a subject with radiomics only gets factors from radiomics only.

The likelihood is separable over entries, so its gradient and Hessian in z_n follow from the first
and second derivatives g_nd, h_nd of log p(y_nd | eta) in eta (one gradient and one
Hessian-vector product of an elementwise function): grad = sum_d g_nd w_d,
Hessian = sum_d h_nd w_d w_d^T. The subject axis is padded to a power of two (masked rows), so one
compiled program serves every call of a fitted model up to that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.generative.model import Model
from rgfactor.inference.compile_options import FAST_COMPILE

MIN_BUCKET = 16


def bucket(n: int) -> int:
    """The padded subject count for ``n`` subjects: the next power of two, at least MIN_BUCKET."""
    return max(MIN_BUCKET, 1 << max(0, int(n) - 1).bit_length())


def pad_subjects(data: dict, n_pad: int) -> dict:
    """``data`` with its subject axis padded to ``n_pad`` rows: masked entries, offset 0, site -1
    (no site effect), covariates 0. The padded rows are fitted to the prior and discarded. On the host
    (NumPy): run op by op in JAX, each padding compiled a program of its own per shape in every process."""
    n = next(iter(data["views"].values()))["mask"].shape[0]
    extra = n_pad - n

    def pad(x, value):
        x = np.asarray(x)
        return np.concatenate([x, np.full((extra,) + x.shape[1:], value, dtype=x.dtype)], axis=0)

    views = {name: {**vd, "y": pad(vd["y"], 0), "mask": pad(vd["mask"], False), "log_offset": pad(vd["log_offset"], 0)}
             for name, vd in data["views"].items()}
    out = {**data, "views": views}
    if "site" in data:
        out["site"] = pad(data["site"], -1)
    if "covariates" in data:
        out["covariates"] = pad(data["covariates"], 0)
    for key in ("coordinates", "gp_phi"):     # factor_prior='gp': padded rows at the first subject's location
        if key in data:
            c = np.asarray(data[key])
            out[key] = np.concatenate([c, np.broadcast_to(c[:1], (extra,) + c.shape[1:])], axis=0)
    return out


def _eta_derivatives(model: Model, view: str, params: dict, data: dict, z):
    """(g, h) (subject, feature): first and second derivatives of the masked log-likelihood in eta."""
    lin, nuis = model.view_params(view, params, data)
    vd = data["views"][view]
    lik = model.view(view).likelihood

    def loglik(eta):
        return jnp.sum(jnp.where(vd["mask"], lik.distribution(eta, nuis).log_prob(vd["y"]), 0.0))

    eta = model.linear_predictor(view, lin, data, z)
    return jax.jvp(jax.grad(loglik), (eta,), (jnp.ones_like(eta),))   # (gradient, diagonal of the Hessian)


def _prior_terms(model: Model, data: dict, z, params: dict | None = None):
    """Gradient (n, K) and Hessian blocks (n, K, K) of the factor prior's log density in z (the
    prior's own closed form where it has one, else autodiff), at the globals ``params``."""
    if hasattr(model.factors, "log_density_derivatives"):
        return model.factors.log_density_derivatives(z, data, params)
    n, k = z.shape
    f = partial(model.factors.log_density, data=data, params=params)
    grad = jax.grad(f)
    cols = [jax.jvp(grad, (z,), (jnp.broadcast_to(jnp.eye(k)[j], (n, k)),))[1] for j in range(k)]
    return grad(z), jnp.stack(cols, axis=-1)


def _newton_terms(model: Model, params: dict, data: dict, z):
    g_z, h_z = _prior_terms(model, data, z, params)
    for view in model.view_names:
        w = params[f"W_{view}"]
        g, h = _eta_derivatives(model, view, params, data, z)
        weight = model.view(view).weight   # the tempered target's weight of the view (1: the posterior)
        g, h = weight * g, weight * h
        g_z = g_z + g @ w
        h_z = h_z + jnp.einsum("nd,dk,dl->nkl", h, w, w)
    return g_z, h_z


@partial(jax.jit, static_argnames=("model", "n_iter"), compiler_options=FAST_COMPILE)
def laplace_factors(params: dict, data: dict, model: Model, n_iter: int = 30) -> tuple[jax.Array, jax.Array]:
    """Laplace approximation of p(z_n | y_n, globals) for every subject in ``data``.

    Returns
    -------
    mean : (n_subjects, K) posterior modes.
    cov : (n_subjects, K, K) posterior covariances (the prior's for a subject with no data).
    """
    n = next(iter(data["views"].values()))["y"].shape[0]
    k = model.n_factors

    def step(z, _):
        g, h = _newton_terms(model, params, data, z)
        return z - jnp.linalg.solve(h, g[..., None])[..., 0], None

    z, _ = jax.lax.scan(step, jnp.zeros((n, k)), None, length=n_iter)
    cov = jnp.linalg.inv(-_newton_terms(model, params, data, z)[1])
    return z, 0.5 * (cov + jnp.swapaxes(cov, -1, -2))


@dataclass
class NewSubjects:
    """Laplace posterior of the factors of unseen subjects (see :func:`new_subject_posterior`).

    arrays : the subjects' ModelArrays (training preprocessing applied); data : model arrays;
    params : posterior-mean globals; mean : (subject, factor); cov : (subject, factor, factor).
    """

    arrays: object
    data: dict
    params: dict
    mean: np.ndarray
    cov: np.ndarray


def new_subject_posterior(model: Model, params: dict, arrays, data: dict, hide: str | None = None) -> NewSubjects:
    """Laplace posterior of the factors of ``arrays``' subjects given the globals ``params``, with
    view ``hide`` (if given) left out of it."""
    n = arrays.n_subjects
    padded = pad_subjects(data if hide is None else hide_view(data, hide), bucket(n))
    mean, cov = laplace_factors({k: jnp.asarray(v) for k, v in params.items()}, padded, model)
    return NewSubjects(arrays, data, params, np.asarray(mean)[:n], np.asarray(cov)[:n])


def hide_view(data: dict, view: str) -> dict:
    """A copy of the model data in which ``view`` is fully masked (left out of every likelihood)."""
    vd = data["views"][view]
    return {**data, "views": {**data["views"], view: {**vd, "mask": np.zeros_like(np.asarray(vd["mask"]))}}}


def laplace_draws(mean: jax.Array, cov: jax.Array, num_draws: int, random_state: int) -> jax.Array:
    """(num_draws, n_subjects, K) draws of z from the Laplace posteriors N(mean_n, cov_n)."""
    chol = jnp.linalg.cholesky(cov + 1e-9 * jnp.eye(cov.shape[-1]))
    eps = jax.random.normal(jax.random.PRNGKey(random_state), (num_draws,) + mean.shape)
    return mean + jnp.einsum("nij,snj->sni", chol, eps)


@partial(jax.jit, static_argnames=("model", "view", "num_draws"), compiler_options=FAST_COMPILE)
def _predictive_mean(params, data, mean, cov, key, model: Model, view: str, num_draws: int):
    chol = jnp.linalg.cholesky(cov + 1e-9 * jnp.eye(cov.shape[-1]))
    lin, nuis = model.view_params(view, params, data)
    lik = model.view(view).likelihood

    def one(eps):
        z = mean + jnp.einsum("nij,nj->ni", chol, eps)
        return lik.mean(model.linear_predictor(view, lin, data, z), nuis)

    eps = jax.random.normal(key, (num_draws,) + mean.shape)
    return jax.lax.map(one, eps).mean(0)


def predictive_mean(model: Model, view: str, params: dict, data: dict, mean: jax.Array, cov: jax.Array,
                    num_draws: int = 200, random_state: int = 0, include_offset: bool = False) -> np.ndarray:
    """E[y^view | y_observed] for new subjects: the inverse link averaged over the Laplace posterior of z
    (``num_draws`` draws of z). Counts are per unit size factor unless ``include_offset``.

    Returns (n_subjects, n_features).
    """
    n = mean.shape[0]
    pred_data = data
    if not include_offset:
        views = dict(data["views"])
        views[view] = {**views[view], "log_offset": np.zeros_like(np.asarray(views[view]["log_offset"]))}
        pred_data = {**data, "views": views}
    n_pad = bucket(n)
    padded = pad_subjects(pred_data, n_pad)
    mean, cov = np.asarray(mean), np.asarray(cov)   # padded on the host, as pad_subjects
    mean_p = np.concatenate([mean, np.zeros((n_pad - n,) + mean.shape[1:], mean.dtype)])
    cov_p = np.concatenate([cov, np.broadcast_to(np.eye(cov.shape[-1], dtype=cov.dtype), (n_pad - n,) + cov.shape[1:])])
    mu = _predictive_mean({k: jnp.asarray(v) for k, v in params.items()}, padded, mean_p, cov_p,
                          jax.random.PRNGKey(random_state), model, view, int(num_draws))
    return np.asarray(mu[:n])
