"""Posterior draws and means from a fitted CAVI state (NumPy; no JAX).

Draws come from the variational posterior itself, component by component (each component's
``cavi_draws``): multivariate normals for Z (per subject) and for the joint term coefficients
theta_d (per feature), the loadings prior's own draws, Gamma draws for precisions. Draws in the
engine's parameterisation are then mapped to the reported one (PPLS: [T, U] -> [T, H / sigma_h]).
"""

from __future__ import annotations

import numpy as np

from rgfactor.generative.conjugate import mvn_draws
from rgfactor.generative.model import Model
from rgfactor.inference.cavi_init import Plan


def to_reported(model: Model, draws: dict) -> dict:
    """Map draws (chain, draw leading) of the closed-form parameterisation to the reported one."""
    for vm in model.views:
        if hasattr(vm.loadings, "to_reported"):
            draws = vm.loadings.to_reported(vm.name, draws)
    return model.factors.to_reported(draws)


def posterior_draws(model: Model, plan: Plan, state: dict, num_draws: int, random_state: int) -> dict:
    """Reported draws with leading dims (chain=1, draw=num_draws)."""
    rng = np.random.default_rng(random_state)
    loc, glob = state["local"], state["global"]
    out = {"Z": mvn_draws(rng, np.asarray(loc["Z_m"]), np.asarray(loc["Z_S"]), num_draws)}
    out.update(model.factors.cavi_draws(glob["factors"], rng, num_draws))
    for m, vm in enumerate(model.views):
        g = glob["views"][m]
        out.update(vm.loadings.conjugate().cavi_draws(vm.name, g["loadings"], rng, num_draws))
        theta = np.swapaxes(mvn_draws(rng, np.asarray(g["terms"]["m"]).T, np.asarray(g["terms"]["cov"]), num_draws), 1, 2)
        for term, (a, b), hq in zip(vm.terms, plan.term_slices[m], g["terms"]["hyper"]):
            out.update(term.cavi_draws(vm.name, theta[:, a:b, :], hq, rng, num_draws))
        out.update(vm.likelihood.conjugate_observation().cavi_draws(vm.name, g["lik"], rng, num_draws))
    out = {name: np.ascontiguousarray(x)[None] for name, x in out.items()}
    return to_reported(model, out)


def posterior_moments(model: Model, plan: Plan, state: dict) -> dict:
    """Variational means under contract names (engine parameterisation), with ``<name>_var``
    marginal variances where Gaussian: Z, W_<view>, intercept_<view>, site_effect_<view>, beta_<view>,
    and each component's own means (alpha, sigma, dispersion, inclusion probabilities, ...)."""
    loc, glob = state["local"], state["global"]
    out = {"Z": np.asarray(loc["Z_m"]), "Z_var": np.diagonal(np.asarray(loc["Z_S"]), axis1=1, axis2=2).copy()}
    for m, vm in enumerate(model.views):
        g = glob["views"][m]
        out.update(vm.loadings.conjugate().cavi_means(vm.name, g["loadings"]))
        theta_m = np.asarray(g["terms"]["m"])
        theta_v = np.diagonal(np.asarray(g["terms"]["cov"]), axis1=1, axis2=2).T
        for term, (a, b) in zip(vm.terms, plan.term_slices[m]):
            name = term.coefficient.format(view=vm.name)
            var = {v.name: v for v in term.variables(vm.name)}[name]
            rows = slice(a, b) if len(var.dims) == 2 else a   # (rows, feature) or (feature,)
            out[name], out[f"{name}_var"] = theta_m[rows], theta_v[rows]
        out.update(vm.likelihood.conjugate_observation().cavi_means(vm.name, g["lik"]))
    return {k: np.asarray(x) for k, x in out.items()}
