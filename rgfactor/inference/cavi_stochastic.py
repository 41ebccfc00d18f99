"""Stochastic variational inference with natural gradients for conjugate models (large cohorts).

Hoffman, Blei, Wang & Paisley (2013), JMLR 14:1303, Alg. 1: for a minibatch B of subjects,
(1) the local factors q(z_n) and Polya-Gamma parameters c_nd, n in B, are set to their CAVI
optimum given the global variables; (2) every global block gets the update it would have if the
data were N/|B| copies of the batch (the components' ``cavi_update`` on rescaled statistics), and
its natural parameters move a step rho_t towards it (the components' ``cavi_blend``):
lambda <- (1 - rho_t) lambda + rho_t lambda_hat,  rho_t = (t + delay)^(-forgetting). With one batch of
all subjects and rho = 1 this is CAVI with the factor block updated first.

A component without ``cavi_blend`` (spike-and-slab loadings: q is a mixture, not an exponential
family in its parameters) cannot be fitted this way; use :func:`rgfactor.inference.cavi.fit_cavi`.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import ConvergenceWarning, SpecError
from rgfactor.generative.conjugate import batched_gaussian
from rgfactor.generative.model import Model
from rgfactor.inference.cavi import CaviResult, check_cavi
from rgfactor.inference.cavi_draws import posterior_draws, posterior_moments
from rgfactor.inference.cavi_init import Plan, init_state, make_plan, prepare_data
from rgfactor.inference.cavi_sweep import (cross, eta_moments, outer_second, set_terms, terms_natural,
                                          weighted_coefficients)
from rgfactor.inference.compile_options import without_validation
from rgfactor.inference.interrupt import check as check_interrupt
from rgfactor.inference.progress import make_bar

__all__ = ["fit_cavi_stochastic"]


def _blend(old, new, rho):
    return (1.0 - rho) * old + rho * new


def _take(tree, idx):
    return jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), tree)


def _take_float64(tree, idx):
    """The minibatch of compact data (:func:`prepare_data` with ``compact=True``) in float64: float32
    values and the boolean mask are cast after the take, so only the batch exists in float64."""
    def take(x):
        x = jnp.take(x, idx, axis=0)
        return x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) or x.dtype == jnp.bool_ else x
    return jax.tree_util.tree_map(take, tree)


def _local_step(model: Model, plan: Plan, glob, bdata, views_l, z_m, z_s):
    """q(z_n) for the batch given the globals, then the likelihoods' local parameters."""
    n, k = z_m.shape
    prec, lin = model.factors.cavi_prior(glob["factors"], k)
    prec = jnp.broadcast_to(prec, (n, k, k))
    lin = jnp.zeros((n, k)) if lin is None else lin
    for m, vm in enumerate(model.views):
        g, dl = glob["views"][m], bdata[m]
        ew, eww = vm.loadings.conjugate().effective(g["loadings"])
        p, a = weighted_coefficients(vm, g["lik"], views_l[m], dl)
        prec = prec + (p @ eww.reshape(-1, k * k)).reshape(n, k, k)
        lin = lin + (a - p * (dl["H"] @ g["terms"]["m"] + dl["offset"][:, None])) @ ew
    z_m, z_s, _ = batched_gaussian(prec, lin)
    z_second = outer_second(z_m, z_s)
    out = []
    for m, vm in enumerate(model.views):
        g, dl = glob["views"][m], bdata[m]
        ew, eww = vm.loadings.conjugate().effective(g["loadings"])
        stats = eta_moments(False, dl, None, z_m, z_second, None, ew, eww, g["terms"]["m"], g["terms"]["cov"])
        out.append(vm.likelihood.conjugate_observation().cavi_local(g["lik"], views_l[m], dl, *stats))
    return z_m, z_s, out


def _svi_step(model: Model, plan: Plan, local_iters: int, scale, state, data, idx, rho):
    loc, glob = state["local"], state["global"]
    bdata = tuple({**dl, **dg} for dl, dg in zip(_take_float64(data["local"], idx), data["global"]))
    views_l = list(_take(loc["views"], idx))
    z_m, z_s = jnp.take(loc["Z_m"], idx, axis=0), jnp.take(loc["Z_S"], idx, axis=0)
    n, k = z_m.shape
    # 1. local step (skipped on the very first step, where the loadings are still 0 and the PCA
    #    start of Z drives the first global step)
    for _ in range(local_iters):
        z_m, z_s, views_l = _local_step(model, plan, glob, bdata, views_l, z_m, z_s)
    z_second = outer_second(z_m, z_s)
    # 2. global step, block by block, from the rescaled batch
    q_factors = model.factors.cavi_blend(
        glob["factors"], model.factors.cavi_update(glob["factors"], z_m, z_second, scale), rho)
    new_views = []
    for m, vm in enumerate(model.views):
        g, dl, dg = dict(glob["views"][m]), bdata[m], data["global"][m]
        lik, prior = vm.likelihood.conjugate_observation(), vm.loadings.conjugate()
        p, a = weighted_coefficients(vm, g["lik"], views_l[m], dl)
        r = a - p * (dl["H"] @ g["terms"]["m"] + dl["offset"][:, None])
        gram = (p.T @ z_second.reshape(n, k * k)).reshape(-1, k, k)
        target = prior.cavi_update(g["loadings"], scale * (r.T @ z_m), scale * gram)
        g["loadings"] = prior.cavi_blend(g["loadings"], target, rho)
        ew, eww = prior.effective(g["loadings"])
        terms = g["terms"]
        q = terms["m"].shape[0]
        r = a - p * (z_m @ ew.T + dl["offset"][:, None])
        t_prec, t_lin = terms_natural(vm, terms, dg, scale * cross(p, dl["HH"]).reshape(-1, q, q),
                                      scale * cross(r, dl["H"]))
        terms = set_terms(vm, plan.term_slices[m], terms, dg, _blend(terms["P"], t_prec, rho),
                          _blend(terms["h"], t_lin, rho))
        terms["hyper"] = tuple(t.cavi_blend(old, new, rho) for t, old, new
                               in zip(vm.terms, g["terms"]["hyper"], terms["hyper"]))
        g["terms"] = terms
        stats = eta_moments(False, dl, dg, z_m, z_second, None, ew, eww, terms["m"], terms["cov"])
        target, views_l[m] = lik.cavi_update(g["lik"], views_l[m], dl, *stats, jnp.asarray(0), scale * vm.weight)
        g["lik"] = lik.cavi_blend(g["lik"], target, rho)
        new_views.append(g)
    full_local = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), loc["views"], tuple(views_l))
    return {"local": {"Z_m": loc["Z_m"].at[idx].set(z_m), "Z_S": loc["Z_S"].at[idx].set(z_s), "views": full_local},
            "global": {"factors": q_factors, "views": tuple(new_views)}, "sweep": state["sweep"]}


@functools.lru_cache(maxsize=16)
def _make_svi_step(model: Model, plan: Plan, local_iters: int):
    return jax.jit(without_validation(functools.partial(_svi_step, model, plan, local_iters)))


def fit_cavi_stochastic(model: Model, arrays: ModelArrays, *, batch_size: int = 256, n_epochs: int = 100,
                        forgetting: float = 0.75, delay: float = 1.0, local_iters: int = 2, tol: float = 1e-4,
                        num_draws: int = 200, random_state: int = 0, progress=False) -> CaviResult:
    """Natural-gradient SVI over minibatches of subjects (Hoffman et al. 2013).

    Parameters
    ----------
    model : the model description; every component needs a natural-gradient step (``cavi_blend``).
    arrays : the data.
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
    SpecError  for a component without a natural-gradient step (spike-and-slab loadings), and for
        the cases :func:`fit_cavi` rejects.

    Warns
    -----
    ConvergenceWarning  when ``n_epochs`` run out before the loadings' criterion is met.
    """
    check_cavi(model, arrays)
    blocks = [model.factors] + [c for v in model.views for c in (v.loadings.conjugate(),) + tuple(v.terms)]
    blocks += [v.likelihood.conjugate_observation() for v in model.views]
    missing = sorted({type(c).__name__ for c in blocks if getattr(c, "cavi_blend", None) is None})
    if missing:
        raise SpecError(f"stochastic VI needs natural-gradient steps, which {missing} lack; use sparsity='ard' "
                        "or the full-batch closed-form engine (fit_cavi) for spike-and-slab loadings.")
    n = arrays.n_subjects
    batch_size = int(min(max(batch_size, 1), n))
    plan = make_plan(model, arrays, dense=False)
    rng = np.random.default_rng(random_state)
    steps_per_epoch = -(-n // batch_size)
    converged, t = False, 0
    with jax.enable_x64(True):
        data = prepare_data(model, plan, arrays, compact=True)
        state = init_state(model, plan, arrays, random_state)
        first_step, step = _make_svi_step(model, plan, 0), _make_svi_step(model, plan, int(local_iters))
        scale = jnp.asarray(n / batch_size)

        def loadings_mean(s):
            return np.concatenate([np.asarray(g["loadings"]["Ew"]).ravel() for g in s["global"]["views"]])

        prev = loadings_mean(state)
        bar = make_bar(n_epochs, "stochastic VI", progress, unit="epoch")
        for _ in range(n_epochs):
            if bar is not None:
                bar.update(1)
            order = rng.permutation(n)
            order = np.concatenate([order, order[: steps_per_epoch * batch_size - n]])
            for b in range(steps_per_epoch):
                check_interrupt()
                t += 1
                rho = jnp.asarray((t + delay) ** (-forgetting))
                run = first_step if t == 1 else step
                state = run(scale, state, data, jnp.asarray(order[b * batch_size:(b + 1) * batch_size]), rho)
            cur = loadings_mean(state)
            if t > steps_per_epoch and np.linalg.norm(cur - prev) < tol * np.linalg.norm(prev):
                converged = True
                break
            prev = cur
        if bar is not None:
            bar.close()
        state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
    if not converged:   # as fit_cavi warns: the fit ran out of epochs, not into its criterion
        warnings.warn(f"stochastic VI stopped after n_epochs={n_epochs} epochs without the loadings' relative "
                      f"change over an epoch falling below tol={tol}; increase max_iter (epochs) or batch_size.",
                      ConvergenceWarning, stacklevel=2)
    return CaviResult(draws=posterior_draws(model, plan, state, num_draws, random_state),
                      moments=posterior_moments(model, plan, state), elbo=np.zeros(0),
                      n_iter=t, converged=converged, state=state)
