"""Stochastic variational inference with natural gradients for conjugate GFA (ARD loadings).

Hoffman, Blei, Wang & Paisley (2013), JMLR 14:1303, Alg. 1: for a minibatch B of subjects,
(1) the local factors q(z_n) and Polya-Gamma parameters c_nd, n in B, are set to their CAVI
optimum given the global variables; (2) every global block (loadings, ARD precisions, intercepts,
site effects and their precisions, covariate effects, noise precisions) gets the CAVI update it
would have if the data were N/|B| copies of the batch, and its natural parameters move a step rho_t
towards it:  lambda <- (1 - rho_t) lambda + rho_t lambda_hat,  rho_t = (t + delay)^(-forgetting).
For Gaussian blocks the natural parameters are (precision, precision x mean); for Gamma blocks
(shape, rate). The NB log-dispersion takes the same convex step. With one batch of all subjects and
rho = 1 this is CAVI with the factor block updated first.

Spike-and-slab loadings are not supported here (their q is a mixture, not an exponential family in
the CAVI parameters); use :func:`rgfactor.inference.cavi.fit_cavi` for those.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import SpecError
from rgfactor.inference.cavi import CaviResult, _check
from rgfactor.inference.cavi_draws import posterior_draws, posterior_moments
from rgfactor.inference.cavi_init import init_state, prepare_data
from rgfactor.inference.cavi_math import batched_gaussian
from rgfactor.inference.cavi_updates import (
    SITE_PREC_A0,
    TAU_A0,
    TAU_B0,
    CaviConfig,
    lik_coefficients,
    update_ard,
    update_dispersion,
)

__all__ = ["fit_svi_natural"]


def _blend(old, new, rho):
    return (1.0 - rho) * old + rho * new


def _blend_normal(m_old, v_old, prec_hat, lin_hat, rho):
    """Convex step on (1/v, m/v) for independent normals; returns (mean, variance)."""
    prec = _blend(1.0 / v_old, prec_hat, rho)
    lin = _blend(m_old / v_old, lin_hat, rho)
    return lin / prec, 1.0 / prec


def _batch(cfg, data, idx):
    take = functools.partial(jnp.take, indices=idx, axis=0)
    out = {"views": tuple({**vd, "y": take(vd["y"]), "mask": take(vd["mask"]), "offset": take(vd["offset"])}
                          for vd in data["views"])}
    for key in ("site_onehot", "X", "XX"):
        if key in data:
            out[key] = take(data[key])
    return out


def _eta_parts(cfg, vd, vs, bdata):
    """E[eta] without the factor term, and its variance, on the batch."""
    other = vs["b_m"][None, :] + vd["offset"][:, None]
    var = jnp.broadcast_to(vs["b_v"][None, :], vd["y"].shape)
    if cfg.site_effects:
        other = other + bdata["site_onehot"] @ vs["u_m"]
        var = var + bdata["site_onehot"] @ vs["u_v"]
    if cfg.covariates:
        c = vs["B_cov"].shape[-1]
        other = other + bdata["X"] @ vs["B_m"]
        var = var + bdata["XX"] @ vs["B_cov"].reshape(-1, c * c).T
    return other, var


def _refresh_c(cfg, lik, vd, vs, bdata, z_m, ezz):
    if lik == "gaussian":
        return vs
    other, var = _eta_parts(cfg, vd, vs, bdata)
    f = z_m @ vs["Ew"].T
    kk = ezz.shape[1] * ezz.shape[2]
    var = var + jnp.maximum(ezz.reshape(ezz.shape[0], kk) @ vs["EWW"].reshape(-1, kk).T - f * f, 0.0)
    shift = vs["log_phi"][None, :] if lik != "bernoulli" else 0.0
    return {**vs, "c": jnp.sqrt(var + (f + other - shift) ** 2)}


def _svi_step(cfg: CaviConfig, local_iters: int, scale, state, data, idx, rho):
    bdata = _batch(cfg, data, idx)
    views = [{**vs, "c": jnp.take(vs["c"], idx, axis=0)} if "c" in vs else dict(vs)
             for vs in state["views"]]
    k = state["Z_m"].shape[1]
    z_m, z_s = jnp.take(state["Z_m"], idx, axis=0), jnp.take(state["Z_S"], idx, axis=0)
    ezz = z_s + z_m[:, :, None] * z_m[:, None, :]
    # 1. local step: q(z_n) and q(omega_n.) for n in the batch (skipped on the very first step,
    #    where the loadings are still 0 and the PCA start of Z drives the first global step)
    for _ in range(local_iters):
        prec = jnp.eye(k)[None]
        lin = 0.0
        for lik, vd, vs in zip(cfg.likelihoods, bdata["views"], views):
            p, a = lik_coefficients(lik, vd, vs)
            other, _ = _eta_parts(cfg, vd, vs, bdata)
            prec = prec + (p @ vs["EWW"].reshape(-1, k * k)).reshape(-1, k, k)
            lin = lin + (a - p * other) @ vs["Ew"]
        z_m, z_s, _ = batched_gaussian(prec, lin)
        ezz = z_s + z_m[:, :, None] * z_m[:, None, :]
        views = [_refresh_c(cfg, lik, vd, vs, bdata, z_m, ezz)
                 for lik, vd, vs in zip(cfg.likelihoods, bdata["views"], views)]
    # 2. global step, block by block, from the rescaled batch
    new_views = []
    for lik, vd, vs, full_vd in zip(cfg.likelihoods, bdata["views"], views, data["views"]):
        p, a = lik_coefficients(lik, vd, vs)
        other, _ = _eta_parts(cfg, vd, vs, bdata)
        gram = (p.T @ ezz.reshape(-1, k * k)).reshape(-1, k, k)
        w_prec = _blend(vs["W_prec"], jnp.diag(vs["alpha_a"] / vs["alpha_b"])[None] + scale * gram, rho)
        w_lin = _blend(vs["W_lin"], scale * ((a - p * other).T @ z_m), rho)
        mean, cov, logdet = batched_gaussian(w_prec, w_lin)
        vs.update(W_prec=w_prec, W_lin=w_lin, Ew=mean, W_cov=cov, W_logdet=logdet,
                  EWW=cov + mean[:, :, None] * mean[:, None, :])
        old_a, old_b = vs["alpha_a"], vs["alpha_b"]
        vs = update_ard(cfg, vs)
        vs.update(alpha_a=_blend(old_a, vs["alpha_a"], rho), alpha_b=_blend(old_b, vs["alpha_b"], rho))
        f = z_m @ vs["Ew"].T
        site = bdata["site_onehot"] @ vs["u_m"] if cfg.site_effects else 0.0
        xb = bdata["X"] @ vs["B_m"] if cfg.covariates else 0.0
        base = f + vd["offset"][:, None]
        r = a - p * (base + site + xb)
        b_m, b_v = _blend_normal(vs["b_m"], vs["b_v"], 1.0 / vd["prior_var"] + scale * jnp.sum(p, axis=0),
                                 vd["centre"] / vd["prior_var"] + scale * jnp.sum(r, axis=0), rho)
        vs.update(b_m=b_m, b_v=b_v)
        if cfg.site_effects:
            onehot = bdata["site_onehot"]
            r = a - p * (base + b_m[None, :] + xb)
            u_m, u_v = _blend_normal(vs["u_m"], vs["u_v"], (vs["g_a"] / vs["g_b"])[None, :] + scale * onehot.T @ p,
                                     scale * onehot.T @ r, rho)
            g_a = SITE_PREC_A0 + 0.5 * u_m.shape[0]
            g_b = vd["scale2"] + 0.5 * jnp.sum(u_m**2 + u_v, axis=0)
            vs.update(u_m=u_m, u_v=u_v, g_a=_blend(vs["g_a"], g_a, rho), g_b=_blend(vs["g_b"], g_b, rho))
            site = onehot @ u_m
        if cfg.covariates:
            x = bdata["X"]
            c = x.shape[1]
            r = a - p * (base + b_m[None, :] + site)
            old_prec = jnp.linalg.inv(vs["B_cov"])
            b_prec = _blend(old_prec, jnp.eye(c)[None] / vd["scale2"][:, None, None]
                            + scale * (p.T @ bdata["XX"]).reshape(-1, c, c), rho)
            b_lin = _blend(jnp.einsum("dkl,ld->dk", old_prec, vs["B_m"]), scale * (r.T @ x), rho)
            bm, bcov, _ = batched_gaussian(b_prec, b_lin)
            vs.update(B_m=bm.T, B_cov=bcov)
        if lik == "gaussian" or lik == "negative_binomial":
            e_eta = base + b_m[None, :] + (site if cfg.site_effects else 0.0)
            e_eta = e_eta + (bdata["X"] @ vs["B_m"] if cfg.covariates else 0.0)
            _, var = _eta_parts(cfg, vd, vs, bdata)
            kk = k * k
            var = var + jnp.maximum(ezz.reshape(-1, kk) @ vs["EWW"].reshape(-1, kk).T - f * f, 0.0)
            if lik == "gaussian":
                mask = vd["mask"]
                ss = jnp.sum(mask * ((vd["y"] - e_eta) ** 2 + var), axis=0)
                vs.update(tau_a=_blend(vs["tau_a"], TAU_A0 + 0.5 * scale * jnp.sum(mask, axis=0), rho),
                          tau_b=_blend(vs["tau_b"], TAU_B0 + 0.5 * scale * ss, rho))
            else:
                vs["log_phi"] = _blend(vs["log_phi"], update_dispersion(vd, vs["log_phi"], e_eta, var, scale), rho)
        if "c" in vs:   # write the batch rows of c back into the (subject, feature) array
            vs["c"] = state["views"][len(new_views)]["c"].at[idx].set(vs["c"])
        new_views.append(vs)
    return {"Z_m": state["Z_m"].at[idx].set(z_m), "Z_S": state["Z_S"].at[idx].set(z_s),
            "views": tuple(new_views), "sweep": state["sweep"]}


@functools.lru_cache(maxsize=16)
def _make_svi_step(cfg: CaviConfig, local_iters: int):
    return jax.jit(functools.partial(_svi_step, cfg, local_iters))


def fit_svi_natural(arrays: ModelArrays, n_factors: int, *, batch_size: int = 256, n_epochs: int = 100,
                    forgetting: float = 0.75, delay: float = 1.0, local_iters: int = 2,
                    sparsity: str = "ard", site_effects: bool = False, tol: float = 1e-4,
                    num_draws: int = 200, random_state: int = 0, progress: bool = False) -> CaviResult:
    """Natural-gradient SVI over minibatches of subjects (Hoffman et al. 2013); ARD loadings only.

    Parameters
    ----------
    batch_size : subjects per step (clipped to n_subjects; every batch has this size, so one
        compiled step serves the whole run).
    n_epochs : passes over the subjects; each epoch is ceil(N / batch_size) steps in a fresh
        random order.
    forgetting, delay : Robbins-Monro step rho_t = (t + delay)^(-forgetting), forgetting in (0.5, 1].
    local_iters : alternations of q(z) and q(omega) per batch.
    tol : stop early when the relative change of the loadings' mean over an epoch is below tol.

    Returns
    -------
    CaviResult with ``elbo`` empty (no full-data ELBO is computed) and ``n_iter`` the number of steps.

    Raises
    ------
    SpecError  for sparsity other than 'ard', and for the cases :func:`fit_cavi` rejects.
    """
    _check(arrays, n_factors, sparsity, site_effects)
    if sparsity != "ard":
        raise SpecError(f"fit_svi_natural supports sparsity='ard' only, got {sparsity!r}; use "
                        "fit_cavi for spike-and-slab loadings.")
    n = arrays.n_subjects
    batch_size = int(min(max(batch_size, 1), n))
    cfg = CaviConfig(tuple(v.likelihood for v in arrays.views), False, bool(site_effects),
                     arrays.covariates is not None and np.asarray(arrays.covariates).shape[1] > 0)
    rng = np.random.default_rng(random_state)
    steps_per_epoch = -(-n // batch_size)
    converged, t = False, 0
    with jax.enable_x64(True):
        data = prepare_data(arrays, cfg)
        state = init_state(arrays, cfg, int(n_factors), random_state)
        views = []
        for vs in state["views"]:
            prec = jnp.broadcast_to(jnp.diag(vs["alpha_a"] / vs["alpha_b"]), vs["EWW"].shape)
            views.append({**vs, "W_prec": prec, "W_lin": jnp.zeros_like(vs["Ew"]), "W_cov": jnp.linalg.inv(prec)})
            if cfg.covariates:
                c = vs["B_cov"].shape[-1]
                views[-1]["B_cov"] = jnp.broadcast_to(jnp.eye(c), vs["B_cov"].shape) * data["views"][len(views) - 1]["scale2"][:, None, None]
        state = {**state, "views": tuple(views)}
        first_step, step = _make_svi_step(cfg, 0), _make_svi_step(cfg, int(local_iters))
        scale = jnp.asarray(n / batch_size)
        prev = np.concatenate([np.asarray(vs["Ew"]).ravel() for vs in state["views"]])
        epochs = range(n_epochs)
        if progress:
            from tqdm.auto import tqdm
            epochs = tqdm(epochs, desc="SVI")
        for _ in epochs:
            order = rng.permutation(n)
            order = np.concatenate([order, order[: steps_per_epoch * batch_size - n]])
            for b in range(steps_per_epoch):
                t += 1
                rho = jnp.asarray((t + delay) ** (-forgetting))
                run = first_step if t == 1 else step
                state = run(scale, state, data, jnp.asarray(order[b * batch_size:(b + 1) * batch_size]), rho)
            cur = np.concatenate([np.asarray(vs["Ew"]).ravel() for vs in state["views"]])
            if t > steps_per_epoch and np.linalg.norm(cur - prev) < tol * np.linalg.norm(prev):
                converged = True
                break
            prev = cur
        state = jax.device_get(state)
    return CaviResult(draws=posterior_draws(arrays, cfg, state, num_draws, random_state),
                      moments=posterior_moments(arrays, cfg, state), elbo=np.zeros(0),
                      n_iter=t, converged=converged, state=state)
