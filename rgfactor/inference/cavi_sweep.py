"""One CAVI sweep over a model's components, and its ELBO.

:func:`make_step` returns a ``jax.jit``-compiled ``step(state, data) -> (state, elbo)`` that runs,
each an exact coordinate maximisation of the ELBO (so the ELBO never decreases, up to round-off):

    0. where the factor prior and the views allow it (``plan.intercepts``), the ELBO-optimal
       translation of q(Z) into the intercepts (:mod:`rgfactor.inference.cavi_translate`), and
       (``plan.scales``) the ELBO-optimal scale of each factor between q(Z) and q(W)
       (:mod:`rgfactor.inference.cavi_scale`)
    1. per view: the loadings prior's update of q(W) (and its ARD / inclusion variables)
    2. q(z_n), with the factor prior's precision and mean plus every view's terms,
       then the factor prior's own global variables (PPLS: B, sigma_h)
    3. per view: the joint Gaussian q(theta_d) of all term coefficients (intercept, site effects,
       covariates), the terms' hyperparameters, then the likelihood's nuisance (noise precision,
       NB dispersion) and local Polya-Gamma parameters.

Every likelihood enters the Gaussian updates through two (subject, feature) arrays: ``p`` (expected
precision of each entry, 0 where missing) and ``a`` (its linear coefficient), so that the expected
log-likelihood is ``sum(a * eta - p * eta^2 / 2) + const``. Views with a per-feature constant
precision and every entry observed take the sufficient-statistic path (``plan.dense``). A view with
likelihood weight w (``ViewModel.weight``, a tempered posterior) enters with ``w p``, ``w a``, ``w``
times its nuisance statistics and ``w`` times its expected log-likelihood in the ELBO.

The ELBO is assembled from the components: sum of ``cavi_elp(cavi_moments(q))`` + the likelihoods'
expected log-likelihood + entropies (:func:`view_log_joint`), the same functions the point-mass test
(``tests/test_components.py``) checks against NumPyro's ``log_density``. The maths is in docs/cavi.md.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rgfactor.generative.conjugate import batched_gaussian, gaussian_entropy
from rgfactor.generative.model import Model
from rgfactor.inference.cavi_init import Plan
from rgfactor.inference.cavi_scale import scale_factors
from rgfactor.inference.cavi_translate import translate_factors
from rgfactor.inference.compile_options import QUICK_COMPILE, without_validation


def outer_second(z_m, z_s):
    """E[z z^T] per subject from q(z) = N(z_m, z_s)."""
    return z_s + z_m[:, :, None] * z_m[:, None, :]


def cross(x, h):
    """x^T h, (D, Q), for x (N, D) and h (N, Q). With one column (a view whose only term is the intercept)
    as a broadcast product and a sum over subjects: XLA's CPU backend turns that matrix-vector product,
    with the elementwise work that produces x fused in, into a loop that reads x transposed (24 ms
    against 2.7 ms on 1,000 x 2,000, 2026-12-05)."""
    return jnp.sum(x * h, axis=0)[:, None] if h.shape[1] == 1 else x.T @ h


def theta_second(theta_m, theta_cov, sl):
    """Diagonal second moments (Q_t, D) of the rows ``sl`` of q(theta_d)."""
    a, b = sl
    return jnp.diagonal(theta_cov, axis1=1, axis2=2)[:, a:b].T + theta_m[a:b] ** 2


def eta_moments(dense: bool, dl: dict, dg: dict, z_m, z_second, sum_ezz, ew, eww, theta_m, theta_cov):
    """Moments of the linear predictor under q.

    Generic path: (E[eta], Var[eta]) per (subject, feature). Dense path: (n_obs_d, ss_d) with
    ss_d = sum_n E[(y_nd - eta_nd)^2], from sufficient statistics (no (subject, feature) pass).
    """
    if dense:
        n = z_m.shape[0]
        h = dl["H"]
        yz = dl["y"].T @ z_m                                    # (D, K)
        htf = (h.T @ z_m) @ ew.T                                # (Q, D)
        f2 = jnp.einsum("dk,kl,dl->d", ew, z_m.T @ z_m, ew)
        sq = (dg["y2"] - 2.0 * jnp.sum(yz * ew, axis=1) - 2.0 * jnp.sum(dg["HtY"] * theta_m, axis=0)
              + f2 + 2.0 * jnp.sum(htf * theta_m, axis=0) + jnp.einsum("qd,qr,rd->d", theta_m, dg["HtH"], theta_m))
        var = jnp.einsum("qr,drq->d", dg["HtH"], theta_cov) + jnp.einsum("kl,dkl->d", sum_ezz, eww) - f2
        return jnp.full(sq.shape, float(n), dtype=sq.dtype), sq + var
    n, k = z_m.shape
    f = z_m @ ew.T
    e_eta = dl["H"] @ theta_m + f + dl["offset"][:, None]
    q = theta_m.shape[0]
    var_theta = dl["HH"] @ theta_cov.reshape(-1, q * q).T
    var_zw = z_second.reshape(n, k * k) @ eww.reshape(-1, k * k).T - f * f
    return e_eta, var_theta + jnp.maximum(var_zw, 0.0)


def weighted_coefficients(vm, q, ql, vd):
    """The likelihood's Gaussian coefficients (p, a) of view ``vm`` times its weight (tempered posterior)."""
    p, a = vm.likelihood.conjugate_observation().cavi_coefficients(q, ql, vd)
    return (p, a) if vm.weight == 1.0 else (vm.weight * p, vm.weight * a)


def terms_natural(vm, terms: dict, dg: dict, gram_t, lin_t):
    """Natural parameters (precision (D, Q, Q), linear (D, Q)) of the coordinate-optimal q(theta_d)
    given the data statistics ``gram_t``, ``lin_t`` and the terms' current priors."""
    means, precs = zip(*(t.cavi_prior(hq, dg) for t, hq in zip(vm.terms, terms["hyper"])))
    m0, p0 = jnp.concatenate(means, axis=0), jnp.concatenate(precs, axis=0)   # (Q, D)
    return gram_t + jax.vmap(jnp.diag)(p0.T), lin_t + (p0 * m0).T


def set_terms(vm, slices, terms: dict, dg: dict, prec, lin) -> dict:
    """q(theta_d) from its natural parameters, then each term's hyperparameter update."""
    theta, cov, logdet = batched_gaussian(prec, lin)
    theta_m = theta.T
    hyper = tuple(t.cavi_update(hq, theta_m[a:b], theta_second(theta_m, cov, (a, b)), dg)
                  for t, hq, (a, b) in zip(vm.terms, terms["hyper"], slices))
    return {**terms, "m": theta_m, "cov": cov, "logdet": logdet, "P": prec, "h": lin, "hyper": hyper}


def update_terms(vm, slices, terms: dict, dg: dict, gram_t, lin_t) -> dict:
    """Joint Gaussian update of all term coefficients of a view, then their hyperparameters."""
    return set_terms(vm, slices, terms, dg, *terms_natural(vm, terms, dg, gram_t, lin_t))


def view_log_joint(vm, plan_slices, dense: bool, dl, dg, load_m, theta_m, theta_cov, hyper_m, lik_m, ql, eta_stats):
    """E_q[log p] of one view's variables and observations: loadings, terms and nuisance priors plus
    the expected log-likelihood, from moments (no entropies)."""
    lik = vm.likelihood.conjugate_observation()
    out = vm.loadings.conjugate().cavi_elp(load_m)
    for term, sl, hm in zip(vm.terms, plan_slices, hyper_m):
        a, b = sl
        out = out + term.cavi_elp(theta_m[a:b], theta_second(theta_m, theta_cov, sl), hm, dg)
    out = out + lik.cavi_elp(lik_m, dg)
    if dense:
        return out + vm.weight * lik.expected_loglik_dense(lik_m, *eta_stats)
    return out + vm.weight * lik.expected_loglik(lik_m, ql, {**dl, **dg}, *eta_stats)


def _step(model: Model, plan: Plan, state, data):
    loc, glob = state["local"], state["global"]
    z_m, z_s = loc["Z_m"], loc["Z_S"]
    n, k = z_m.shape
    kk = k * k
    views_g = [dict(g) for g in glob["views"]]
    views_l = list(loc["views"])
    # the likelihoods' (p, a) at the current q(omega); neither Z nor theta enters them
    coefficients = [None if plan.is_dense(m) else
                    weighted_coefficients(vm, views_g[m]["lik"], views_l[m], {**data["local"][m], **data["global"][m]})
                    for m, vm in enumerate(model.views)]
    # 0. the factors' mean into the intercepts (an exact ELBO maximisation along one direction)
    if plan.intercepts is not None:
        z_m, views_g = translate_factors(model, plan, z_m, views_g, data, coefficients, glob["factors"])
    # 0b. each factor's scale between Z and the loadings (an exact ELBO maximisation over K scales)
    if plan.scales:
        z_m, z_s, views_g = scale_factors(model, z_m, z_s, views_g, glob["factors"])
    ezz = outer_second(z_m, z_s)
    sum_ezz = jnp.sum(ezz, axis=0)
    cache = []
    # 1. loadings
    for m, vm in enumerate(model.views):
        dl, dg, g = data["local"][m], data["global"][m], views_g[m]
        lik, prior = vm.likelihood.conjugate_observation(), vm.loadings.conjugate()
        theta_m = g["terms"]["m"]
        if plan.is_dense(m):
            tau = vm.weight * lik.dense_precision(g["lik"])
            hz = dl["H"].T @ z_m
            lin = tau[:, None] * (dl["y"].T @ z_m - theta_m.T @ hz)
            gram = tau[:, None, None] * sum_ezz[None]
            saved = (tau,)
        else:
            p, a = coefficients[m]
            r = a - p * (dl["H"] @ theta_m + dl["offset"][:, None])
            gram = (p.T @ ezz.reshape(n, kk)).reshape(-1, k, k)
            lin = r.T @ z_m
            saved = (p, a, r)
        g["loadings"] = prior.cavi_update(g["loadings"], lin, gram)
        cache.append(saved)
    # 2. factors: q(z_n) = N(P_n^{-1} h_n, P_n^{-1}), P_n = prior + sum_m sum_d p_nd E[w_d w_d^T]
    prec_shared, lin = model.factors.cavi_prior(glob["factors"], k, data["factors"])
    lin = jnp.zeros((n, k)) if lin is None else lin
    prec = None
    for m, vm in enumerate(model.views):
        dl, g = data["local"][m], views_g[m]
        ew, eww = vm.loadings.conjugate().effective(g["loadings"])
        if plan.is_dense(m):
            (tau,) = cache[m]
            tw = tau[:, None] * ew
            prec_shared = prec_shared + jnp.einsum("d,dkl->kl", tau, eww)
            lin = lin + dl["y"] @ tw - dl["H"] @ (g["terms"]["m"] @ tw)
        else:
            p, _, r = cache[m]
            term = (p @ eww.reshape(-1, kk)).reshape(n, k, k)
            prec = term if prec is None else prec + term
            lin = lin + r @ ew
    prec = prec_shared[None] if prec is None else prec + prec_shared[None]
    z_m, z_s, z_logdet = batched_gaussian(jnp.broadcast_to(prec, (n, k, k)), lin)
    z_second = outer_second(z_m, z_s)
    sum_ezz = jnp.sum(z_second, axis=0)
    q_factors = model.factors.cavi_update(glob["factors"], z_m, z_second, data=data["factors"])
    f_m = model.factors.cavi_moments(q_factors)
    elbo = (model.factors.cavi_elp(z_m, z_second, f_m, data["factors"]) + jnp.sum(gaussian_entropy(z_logdet, k))
            + model.factors.cavi_entropy(q_factors))
    # 3. terms (joint per feature), hyperparameters, nuisance and local parameters; ELBO
    for m, vm in enumerate(model.views):
        dl, dg, g = data["local"][m], data["global"][m], views_g[m]
        lik, prior = vm.likelihood.conjugate_observation(), vm.loadings.conjugate()
        dense = plan.is_dense(m)
        ew, eww = prior.effective(g["loadings"])
        terms = dict(g["terms"])
        q = terms["m"].shape[0]
        if dense:
            tau = cache[m][0]
            htf = (dl["H"].T @ z_m) @ ew.T
            lin_t = (tau[None, :] * (dg["HtY"] - htf)).T
            gram_t = tau[:, None, None] * dg["HtH"][None]
        else:
            p, a, _ = cache[m]   # the likelihood's q is unchanged since step 1
            r = a - p * (z_m @ ew.T + dl["offset"][:, None])
            gram_t = cross(p, dl["HH"]).reshape(-1, q, q)
            lin_t = cross(r, dl["H"])
        terms = update_terms(vm, plan.term_slices[m], terms, dg, gram_t, lin_t)
        theta_m, cov, logdet, hyper = terms["m"], terms["cov"], terms["logdet"], terms["hyper"]
        g["terms"] = terms
        stats = eta_moments(dense, dl, dg, z_m, z_second, sum_ezz, ew, eww, theta_m, cov)
        if dense:
            g["lik"] = lik.cavi_update_dense(g["lik"], dg, *(vm.weight * s for s in stats))
        else:
            g["lik"], views_l[m] = lik.cavi_update(g["lik"], views_l[m], {**dl, **dg}, *stats, state["sweep"],
                                                   vm.weight)
        hyper_m = tuple(t.cavi_moments(hq) for t, hq in zip(vm.terms, hyper))
        elbo += view_log_joint(vm, plan.term_slices[m], dense, dl, dg, prior.cavi_moments(g["loadings"]), theta_m,
                               cov, hyper_m, lik.cavi_moments(g["lik"]), views_l[m], stats)
        elbo += (prior.cavi_entropy(g["loadings"]) + jnp.sum(gaussian_entropy(logdet, q))
                 + sum(t.cavi_entropy(hq) for t, hq in zip(vm.terms, hyper)) + lik.cavi_entropy(g["lik"]))
    new = {"local": {"Z_m": z_m, "Z_S": z_s, "views": tuple(views_l)},
           "global": {"factors": q_factors, "views": tuple(views_g)}, "sweep": state["sweep"] + 1}
    return new, elbo


# A sweep whose (subject x feature x factor^2) work is below this is cheap to run but still seconds to
# compile at XLA's default optimisation level: compile it with optimisations off (about half the compile
# time; each sweep ~1.7x slower, which a fit of a few hundred such sweeps does not notice) and with XLA:CPU's
# elemental emitters (S1: 2.56 -> 1.35 s to compile, the same sweep to the last bit).
QUICK_COMPILE_WORK = 5e8
# A view on the (subject, feature) path (counts, binary, missing entries) also does per-entry elementwise
# work (Polya-Gamma moments, log cosh, the PG bound) that optimisation level 0 leaves unfused: on S1 with
# 2000 NB features a sweep took 0.52 CPU-s at level 0 against 0.24 optimised, for 3.6 CPU-s less
# compilation, a loss after ~13 sweeps. Each of its entries counts as this much work besides its K^2.
PER_ENTRY_WORK = 200


def sweep_work(plan: Plan, n_subjects: int, n_features, n_factors: int) -> float:
    """The work measure compared with QUICK_COMPILE_WORK: subjects x sum over views of features x
    (K^2, plus PER_ENTRY_WORK for views off the sufficient-statistic path)."""
    k2 = n_factors**2
    return float(n_subjects) * sum(d * (k2 if plan.is_dense(m) else k2 + PER_ENTRY_WORK)
                                   for m, d in enumerate(n_features))


@functools.lru_cache(maxsize=32)
def make_step(model: Model, plan: Plan, quick_compile: bool = False):
    """The compiled sweep ``step(state, data) -> (state, elbo)`` for a static model and plan
    (``quick_compile``: XLA backend optimisation level 0 and XLA:CPU's faster-compiling emitters,
    :mod:`rgfactor.inference.compile_options`)."""
    options = QUICK_COMPILE if quick_compile else None   # a cheap sweep: compile time is what counts
    return jax.jit(without_validation(functools.partial(_step, model, plan)), compiler_options=options)
