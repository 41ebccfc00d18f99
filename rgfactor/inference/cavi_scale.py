"""A scaling step of the closed-form engine: each factor's scale moved between Z and the loadings.

The linear predictor eta_nd = ... + sum_k z_nk w_dk is unchanged when every z_nk is multiplied by r_k > 0
and every view's w_dk divided by r_k, and under mean field so is every view's expected log-likelihood:
E[eta] does not move, and E[(z_n . w_d)^2] = tr(E[z_n z_n^T] E[w_d w_d^T]) is invariant when
E[z z^T] -> R E[z z^T] R and E[w w^T] -> R^-1 E[w w^T] R^-1 (R = diag(r)). Coordinate ascent cannot make
this joint move, and along it ARD converges slowly: a factor's scale is shared between Z, W and the ARD
precisions, and each block's update moves it a little (on S1 with ARD loadings the fit took 91 sweeps; 13
with this step, to a higher ELBO: ``benchmarks/cavi_scale_step.py``).

This step optimises the ELBO over r exactly, a parameter-expanded VB step (Qi & Jaakkola 2007, NIPS 19;
after PX-EM, Liu, Rubin & Wu 1998, Biometrika 85:755) like the translation step
(:mod:`rgfactor.inference.cavi_translate`); Luttinen & Ilin (2010, Neurocomputing 73:1093) use a full linear
transform R, restricted here to its diagonal so that every component keeps its family. Only the priors and
entropies of Z and W depend on u_k = r_k^2. For a zero-mean Gaussian factor prior with diagonal precision
p_k shared by all N subjects (``cavi_scaling``) and loadings whose terms are ``-A_mk / (2u) - C_mk log(u) / 2``
(``cavi_scale_stats``; ARD: A_mk = E[alpha_mk] sum_d E[w_dk^2], C_mk = D_m, from q(w_d)'s prior term and
entropy),

    ELBO(u) - ELBO(1) = sum_k g_k(u_k) - g_k(1),   g_k(u) = -p_k S_k u / 2 + (N - C_k) log(u) / 2 - A_k / (2u),

with S_k = sum_n E[z_nk^2], A_k = sum_m A_mk, C_k = sum_m C_mk. g_k is strictly concave in log u and its
maximum is the positive root of p_k S_k u^2 - (N - C_k) u - A_k = 0, so the ELBO rises by
sum_k g_k(u_k*) - g_k(1) >= 0 and the sweep stays monotone. The step applies when the factor prior declares
``cavi_scaling`` and every view's loadings ``cavi_scale_stats`` (``Plan.scales``). Spike-and-slab loadings do
not: the same move is valid for them, but S1 then took 17 sweeps instead of 13 to the same ELBO.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["apply_scales", "factor_scales", "scale_factors"]


def factor_scales(model, z_m, z_s, views_g: list, factors_q):
    """The ELBO-optimal scales r (K,) of the factors (module docstring).

    Parameters
    ----------
    model : the model (``plan.scales``: its factor prior and loadings support the step).
    z_m, z_s : (n_subjects, K) means and (n_subjects, K, K) covariances of q(z_n).
    views_g : per view, the global state (``loadings`` read).
    factors_q : the factor prior's variational state.
    """
    n, k = z_m.shape
    prec = model.factors.cavi_scaling(factors_q, k)
    quad = prec * (jnp.sum(z_m * z_m, axis=0) + jnp.sum(jnp.diagonal(z_s, axis1=1, axis2=2), axis=0))
    a_sum, c_sum = jnp.zeros(k, dtype=z_m.dtype), jnp.zeros(k, dtype=z_m.dtype)
    for vm, g in zip(model.views, views_g):
        a_m, c_m = vm.loadings.conjugate().cavi_scale_stats(g["loadings"])
        a_sum, c_sum = a_sum + a_m, c_sum + c_m
    b = n - c_sum
    root = jnp.sqrt(b * b + 4.0 * quad * a_sum)
    # the positive root, written without cancellation for either sign of b
    u = jnp.where(b >= 0.0, (b + root) / (2.0 * quad), 2.0 * a_sum / jnp.maximum(root - b, 1e-300))
    return jnp.sqrt(u)


def apply_scales(model, z_m, z_s, views_g: list, r):
    """q(Z) of z_nk r_k and every view's q(W) of w_dk / r_k (r (K,) > 0): (z_m, z_s, views' globals);
    ``views_g`` is not modified."""
    views = [{**g, "loadings": vm.loadings.conjugate().cavi_rescale(g["loadings"], 1.0 / r)}
             for vm, g in zip(model.views, views_g)]
    return z_m * r, z_s * (r[:, None] * r[None, :]), views


def scale_factors(model, z_m, z_s, views_g: list, factors_q):
    """q(Z) and the views' q(W) after the ELBO-optimal scaling step (:func:`factor_scales`,
    :func:`apply_scales`)."""
    return apply_scales(model, z_m, z_s, views_g, factor_scales(model, z_m, z_s, views_g, factors_q))
