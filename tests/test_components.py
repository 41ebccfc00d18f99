"""One model, every engine: the closed-form engine's expected log joint at a point mass equals
NumPyro's log density of the same model (the conjugate program), for every component; alignment and
engines follow the components' declarations."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.distributions import biject_to, constraints
from numpyro.infer.util import log_density

import rgfactor as rgf
from rgfactor.generative.model import config_from_arrays, describe, model_data
from rgfactor.inference.cavi_init import make_plan, prepare_data
from rgfactor.inference.cavi_sweep import eta_moments, outer_second, view_log_joint
from rgfactor.inference.compile_options import QUICK_COMPILE

VIEWS = {"g": ("gaussian", 5), "nb": ("negative_binomial", 4), "p": ("poisson", 3), "b": ("bernoulli", 4)}
TERMS = {"intercept": (0, 0), "site": (2, 0), "covariates": (0, 2), "site+covariates": (3, 2)}
CASES = list(itertools.product(("GFA", "PCCA", "PPLS"), ("ard", "spike_and_slab"), TERMS))


def cohort(n_sites, n_cov):
    data, _ = rgf.simulate.multiview(n_subjects=14, n_factors=2, views=VIEWS, n_sites=n_sites, n_covariates=n_cov,
                                     missing_entries=0.1, missing_views=0.0, random_state=3)
    return rgf.simulate.model_arrays(data)


def structure_config(arrays, structure, sparsity):
    names = arrays.view_names
    if structure == "GFA":
        return config_from_arrays(arrays, 3, sparsity=sparsity, site_effects=True)
    if structure == "PCCA":   # 1 shared + 1 specific factor per view
        act = {v: np.r_[1, np.eye(len(names), dtype=int)[i]] for i, v in enumerate(names)}
        return config_from_arrays(arrays, 1 + len(names), sparsity=sparsity, site_effects=True, activity=act)
    act = {v: np.r_[1, 1] if v == "b" else np.r_[1, 0] for v in names}   # PPLS, J = 1, response 'b'
    return config_from_arrays(arrays, 2, sparsity=sparsity, site_effects=True, activity=act, response_views=("b",))


def value_maker(program, data):
    """``draw(seed)``: a value for every latent sample site of ``program``, uniform(-1, 1) on the unconstrained
    scale of its support (so every value is finite and in range), 0/1 for discrete sites. The program is
    traced abstractly once for its sites (no operation run) and the values are constrained by one compiled
    program, shared by the seeds."""
    sites = {}

    def record(data):
        tr = handlers.trace(handlers.seed(program, jax.random.PRNGKey(0))).get_trace(data)
        for name, site in tr.items():
            if site["type"] == "sample" and not site["is_observed"]:
                sites[name] = (np.shape(site["value"]), site["fn"].support)
        return jnp.zeros(())

    jax.make_jaxpr(record)(data)
    discrete = {name for name, (_, support) in sites.items() if support is constraints.boolean or support.is_discrete}
    constrain = jax.jit(lambda u: {name: u[name] if name in discrete else biject_to(sites[name][1])(u[name])
                                   for name in u}, compiler_options=QUICK_COMPILE)

    def draw(seed):
        rng = np.random.default_rng(seed)
        u = {name: rng.integers(0, 2, shape).astype(np.float64) if name in discrete else rng.uniform(-1, 1, shape)
             for name, (shape, _) in sites.items()}
        return constrain({name: jnp.asarray(x, dtype=jnp.float64) for name, x in u.items()})

    return draw


def point_values(program, data, seed):
    """One draw of :func:`value_maker`."""
    return value_maker(program, data)(seed)


def cavi_log_joint(model, arrays, values):
    """The closed-form engine's E_q[log p(y, theta)] with q a point mass at ``values``."""
    plan = make_plan(model, arrays, dense=False)
    data = prepare_data(model, plan, arrays)
    z, f_m = model.factors.point_moments(values)
    z_second = outer_second(jnp.asarray(z), jnp.zeros(z.shape + z.shape[-1:]))
    total = model.factors.cavi_elp(jnp.asarray(z), z_second, f_m, data["factors"])
    for m, vm in enumerate(model.views):
        dl, dg = data["local"][m], data["global"][m]
        prior, lik = vm.loadings.conjugate(), vm.likelihood.conjugate_observation()
        load_m, (ew, eww) = prior.point_moments(vm.name, values)
        rows, hyper_m = zip(*(t.point_moments(vm.name, values) for t in vm.terms))
        theta = jnp.concatenate([jnp.asarray(r) for r in rows], axis=0)
        cov = jnp.zeros((theta.shape[1], theta.shape[0], theta.shape[0]))
        e_eta, var_eta = eta_moments(False, dl, dg, jnp.asarray(z), z_second, None, jnp.asarray(ew), jnp.asarray(eww),
                                     theta, cov)
        lik_m, ql = lik.point_moments(vm.name, values, e_eta, {**dl, **dg})
        total += view_log_joint(vm, plan.term_slices[m], False, dl, dg, load_m, theta, cov, hyper_m, lik_m, ql,
                                (e_eta, jnp.maximum(var_eta, 0.0)))
    return float(total)


@pytest.mark.parametrize("structure,sparsity,terms", CASES, ids=["-".join(c) for c in CASES])
def test_closed_form_log_joint_at_a_point_mass_equals_numpyro_log_density(structure, sparsity, terms):
    """For GFA/PCCA/PPLS x ARD/spike-and-slab x (intercept, site, covariates) with Gaussian, NB,
    Poisson and Bernoulli views (10% missing entries): the sum of the components' expected log
    priors and the likelihoods' expected log-likelihood, at a point-mass q (variances 0, Polya-Gamma
    c = |psi|), equals NumPyro's log density of the model's conjugate program at the same values, to
    1e-9 relative in float64. This is what keeps the engines one model: a prior parameter, a
    normalising constant or a likelihood term that differs between them breaks it."""
    n_sites, n_cov = TERMS[terms]
    arrays = cohort(n_sites, n_cov)
    config = structure_config(arrays, structure, sparsity)
    for got, reference in point_mass_log_joints(describe(config), arrays):
        assert np.isfinite(reference)
        np.testing.assert_allclose(got, reference, rtol=1e-9)


def point_mass_log_joints(model, arrays) -> list[tuple[float, float]]:
    """(closed-form log joint, NumPyro's log density) at two random point masses, in float64."""
    assert "cavi" in model.engines
    out = []
    with jax.enable_x64(True):
        data = model_data(arrays, dtype=jnp.float64)
        program = model.program("cavi")
        draw = value_maker(program, data)
        density = jax.jit(lambda d, v: log_density(program, (d,), {}, v)[0], compiler_options=QUICK_COMPILE)
        for seed in (0, 1):
            values = draw(seed)
            reference = density(data, values)
            out.append((float(cavi_log_joint(model, arrays, values)), float(reference)))
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_gp_factor_prior_log_joint_equals_numpyro_log_density():
    """The same check for the GP factor prior (factor_prior='gp', rgfactor.generative.gp_factors_cavi):
    a smooth and a non-smooth factor over 2-D coordinates, every likelihood (ARD loadings; the loadings
    priors are covered above)."""
    data, _ = rgf.simulate.spatial(14, (0.3, 0.0), views=VIEWS, missing_entries=0.1, random_state=3)
    arrays = rgf.simulate.model_arrays(data)
    model = describe(config_from_arrays(arrays, 2, sparsity="ard", factor_prior="gp", n_basis=4))
    for got, reference in point_mass_log_joints(model, arrays):
        assert np.isfinite(reference)
        np.testing.assert_allclose(got, reference, rtol=1e-9)
