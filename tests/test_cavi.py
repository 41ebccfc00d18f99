"""Tests of the CAVI engine (rgfactor.inference.cavi): ELBO monotonicity, recovery, determinism,
the Polya-Gamma bound, the sufficient-statistic path, draw shapes and errors."""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
import pytest
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.special import expit, gammaln

from rgfactor.errors import SpecError
from rgfactor.generative.conjugate import pg_loglik_bound
from rgfactor.inference.cavi import fit_cavi
from rgfactor.inference.cavi_init import init_state, make_plan, prepare_data
from rgfactor.inference.cavi_sweep import _step, make_step
from rgfactor.inference.compile_options import FAST_COMPILE, QUICK_COMPILE, without_validation

from conftest import cavi_cohort as simulate, cavi_model, fit_cavi_quiet


def matched_abs_corr(z_true, z_hat):
    """max-|corr| of each true factor after Hungarian matching on |corr| (constant columns -> 0)."""
    k = z_true.shape[1]
    sd = z_hat.std(axis=0)
    c = np.zeros((k, z_hat.shape[1]))
    ok = sd > 1e-12
    c[:, ok] = np.abs(np.corrcoef(z_true.T, z_hat[:, ok].T)[:k, k:])
    rows, cols = linear_sum_assignment(-c)
    return c[rows, cols]


def fit_quiet(arrays, k, **kw):
    fit_kw = {key: kw.pop(key) for key in ("sparsity", "site_effects") if key in kw}
    return fit_cavi_quiet(arrays, k, **fit_kw, **kw)


# ----------------------------------------------------------------------------- ELBO monotone
# shared by several tests so that the compiled sweep is reused
THREE_VIEWS = dict(dims=(12, 9, 7), likelihoods=("gaussian", "bernoulli", "negative_binomial"),
                   n_sites=2, n_cov=2)
MONOTONE_CASES = [  # (id, simulate kwargs, fit kwargs)
    ("gaussian", dict(likelihoods=("gaussian", "gaussian")), dict()),
    ("gaussian-ard", dict(likelihoods=("gaussian", "gaussian")), dict(sparsity="ard")),
    ("bernoulli+gaussian", dict(likelihoods=("gaussian", "bernoulli")), dict()),
    ("nb+gaussian", dict(likelihoods=("negative_binomial", "gaussian")), dict()),
    ("missing", dict(likelihoods=("gaussian", "bernoulli"), missing=0.1, missing_view=True), dict()),
    ("missing-nb-ard", dict(likelihoods=("gaussian", "negative_binomial"), missing=0.1,
                            missing_view=True), dict(sparsity="ard")),
    ("3 views+sites+covariates", THREE_VIEWS, dict(site_effects=True)),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sim,fit", [c[1:] for c in MONOTONE_CASES], ids=[c[0] for c in MONOTONE_CASES])
def test_elbo_never_decreases(sim, fit):
    arrays, _, _ = simulate(**sim)
    res = fit_quiet(arrays, 4, max_iter=60, tol=0.0, num_draws=2, **fit)
    assert res.n_iter == 60 and np.all(np.isfinite(res.elbo))
    # float64 round-off on sums of ~1e4 terms: allow 1e-9 relative
    drops = np.diff(res.elbo) / np.abs(res.elbo[1:])
    assert drops.min() >= -1e-9, f"ELBO decreased by {drops.min():.3g} (relative) at sweep {drops.argmin() + 2}"
    assert res.elbo[-1] > res.elbo[0]


@pytest.mark.timeout(60)
def test_dense_gaussian_path_equals_generic():
    """Sufficient-statistic updates (plan.dense) give the same ELBO trace as the (subject, feature) path."""
    arrays, _, _ = simulate(likelihoods=("gaussian", "gaussian"), n_sites=2, n_cov=1)
    model = cavi_model(arrays, 3, site_effects="location")   # the dense path: location effects only
    traces = []
    for dense in (False, True):
        plan = make_plan(model, arrays, dense=dense)
        assert plan.dense == (dense, dense)
        with jax.enable_x64(True):
            data, state = prepare_data(model, plan, arrays), init_state(model, plan, arrays, 0)
            step, trace = make_step(model, plan, quick_compile=True), []   # the paths, not the compiler, differ
            for _ in range(5):
                state, elbo = step(state, data)
                trace.append(float(elbo))
        traces.append(trace)
    np.testing.assert_allclose(traces[0], traces[1], rtol=1e-10)


@pytest.mark.timeout(120)
def test_fast_compile_options_compute_the_same_sweeps():
    """XLA:CPU's elemental emitters (compile_options.FAST_COMPILE, with -O0: QUICK_COMPILE) change how the sweep
    is compiled, not what it computes: the same ELBO trace and state as the default compilation, to round-off
    (the programs may order a reduction differently)."""
    arrays, _, _ = simulate(**THREE_VIEWS)
    model = cavi_model(arrays, 4, site_effects="location")
    plan = make_plan(model, arrays)
    runs = []
    with jax.enable_x64(True):
        data, s0 = prepare_data(model, plan, arrays), init_state(model, plan, arrays, 0)
        for options in (None, FAST_COMPILE, QUICK_COMPILE):   # default: make_step's program, shared with the tests below
            step = make_step(model, plan) if options is None else jax.jit(partial(_step, model, plan),
                                                                            compiler_options=options)
            state, trace = s0, []
            for _ in range(4):
                state, elbo = step(state, data)
                trace.append(float(elbo))
            runs.append((np.array(trace), jax.tree_util.tree_leaves(jax.device_get(state))))
    assert np.all(np.diff(runs[0][0]) > 0)
    for trace, leaves in runs[1:]:
        np.testing.assert_allclose(trace, runs[0][0], rtol=1e-10)
        for a, b in zip(leaves, runs[0][1]):
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-7, atol=1e-9)


@pytest.mark.timeout(60)
def test_state_types_stable_across_a_sweep():
    """The sweep returns a state with the same tree, shapes, dtypes and weak types as its input,
    so the jitted step compiles once per fit (a weak-typed leaf once cost a second compilation)."""
    arrays, _, _ = simulate(**THREE_VIEWS)
    model = cavi_model(arrays, 4, site_effects="location")
    plan = make_plan(model, arrays)
    assert plan.dense == (True, False, False)
    with jax.enable_x64(True):
        data, s0 = prepare_data(model, plan, arrays), init_state(model, plan, arrays, 0)
        s1, _ = make_step(model, plan)(s0, data)
    sig = lambda s: jax.tree_util.tree_map(  # noqa: E731
        lambda x: (x.shape, str(x.dtype), bool(getattr(x, "weak_type", False))), s)
    assert sig(s0) == sig(s1)


@pytest.mark.timeout(120)
def test_first_sweep_overlapped_equals_plain_call():
    """cavi.first_sweep (the sweep compiled on a worker thread for a template state while the factors' start
    and ``while_compiling`` run on the caller's thread) returns exactly what the plain call returns; the
    template (factors at zero) plus cavi_init.with_factors is the state init_state builds; an error on either
    thread is raised to the caller, after the other thread has finished."""
    from rgfactor.inference.cavi import first_sweep
    from rgfactor.inference.cavi_init import start_factors, with_factors

    arrays, _, _ = simulate(**THREE_VIEWS)
    model = cavi_model(arrays, 4, site_effects="location")
    plan = make_plan(model, arrays)
    with jax.enable_x64(True):
        data, s0 = prepare_data(model, plan, arrays), init_state(model, plan, arrays, 3)
        template = init_state(model, plan, arrays, 3, factors=np.zeros((arrays.n_subjects, 4)))
        start = lambda: with_factors(template, model, start_factors(model, arrays, 3), 3)  # noqa: E731
        for a, b in zip(jax.tree_util.tree_leaves(start()), jax.tree_util.tree_leaves(s0)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        # the program make_step builds, as a jit object of its own (so first_sweep compiles it)
        step = jax.jit(without_validation(partial(_step, model, plan)))
        calls = []
        state, elbo = first_sweep(step, template, data, start, lambda: calls.append(1))
        want_state, want_elbo = make_step(model, plan)(s0, data)
        assert calls == [1] and float(elbo) == float(want_elbo)
        for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(want_state)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

        def fails():
            raise ValueError("no start")

        with pytest.raises(ValueError, match="no start"):
            first_sweep(step, template, data, fails, lambda: None)
        with pytest.raises(ValueError, match="while compiling"):
            first_sweep(step, template, data, start, lambda: (_ for _ in ()).throw(ValueError("while compiling")))


# ----------------------------------------------------------------------------- recovery
@pytest.mark.timeout(120)
def test_recovers_factors_gaussian_bernoulli_nb():
    """True factors recovered with mean max-|corr| >= 0.9 after Hungarian matching (N=300, K=3,
    seed 0; one Gaussian, one Bernoulli, one NB view). 0.9 leaves room for the information lost
    to binarisation and count noise; a rotated or collapsed solution scores ~0.5-0.8."""
    arrays, z, _ = simulate(n=300, dims=(60, 50, 40),
                            likelihoods=("gaussian", "bernoulli", "negative_binomial"), seed=0)
    res = fit_quiet(arrays, 5, num_draws=100)
    assert res.converged
    corr = matched_abs_corr(z, res.moments["Z"])
    assert corr.mean() >= 0.9, corr
    # NB dispersion (true 5) is estimated to within a factor of 2 on the median feature
    assert 2.5 <= np.median(res.moments["dispersion_v2"]) <= 10.0, np.median(res.moments["dispersion_v2"])
    # the draws come from q: their mean is within 5 Monte Carlo standard errors of the variational mean
    zscore = (res.draws["Z"].mean(axis=(0, 1)) - res.moments["Z"]) / np.sqrt(res.moments["Z_var"] / 100)
    assert np.abs(zscore).max() < 5.0


# ----------------------------------------------------------------------------- determinism, contract
@pytest.mark.timeout(60)
def test_same_seed_identical_draws_other_seed_different():
    arrays, _, _ = simulate(likelihoods=("gaussian", "bernoulli"))
    a = fit_quiet(arrays, 4, max_iter=30, num_draws=5, random_state=1)
    b = fit_quiet(arrays, 4, max_iter=30, num_draws=5, random_state=1)
    c = fit_quiet(arrays, 4, max_iter=30, num_draws=5, random_state=2)
    assert a.draws.keys() == b.draws.keys()
    for name in a.draws:
        np.testing.assert_array_equal(a.draws[name], b.draws[name])
    np.testing.assert_array_equal(a.elbo, b.elbo)
    assert not np.array_equal(a.draws["Z"], c.draws["Z"])


@pytest.mark.timeout(60)
def test_draw_names_and_shapes():
    arrays, _, _ = simulate(**THREE_VIEWS)
    res = fit_quiet(arrays, 4, site_effects=True, max_iter=5, num_draws=4)
    n, s = arrays.n_subjects, 4
    expected = {"Z": (1, s, n, 4)}
    for name, d in (("v0", 12), ("v1", 9), ("v2", 7)):
        expected.update({f"W_{name}": (1, s, d, 4), f"alpha_{name}": (1, s, 4), f"theta_{name}": (1, s, 4),
                         f"intercept_{name}": (1, s, d), f"site_effect_{name}": (1, s, 2, d),
                         f"site_sd_{name}": (1, s, d), f"beta_{name}": (1, s, 2, d)})
    expected.update({"sigma_v0": (1, s, 12), "dispersion_v2": (1, s, 7),   # site_effects=True: a site scale on
                     "site_scale_v0": (1, s, 2, 12), "site_scale_shape_v0": (1, s)})   # the Gaussian view
    assert {k: v.shape for k, v in res.draws.items()} == expected
    assert np.all(res.draws["sigma_v0"] > 0) and np.all(res.draws["alpha_v1"] > 0)
    assert res.moments["Z_var"].shape == (n, 4) and np.all(res.moments["Z_var"] > 0)


@pytest.mark.parametrize("kw,match", [
    (dict(sparsity="horseshoe"), "HorseshoeLoadings.*method='svi' or 'nuts'"),
    (dict(sparsity="lasso"), "unknown sparsity 'lasso'"),
])
def test_spec_errors(kw, match):
    arrays, _, _ = simulate(n=20, dims=(5, 5))
    with pytest.raises(SpecError, match=match):
        fit_cavi(cavi_model(arrays, 2, **kw), arrays)


# ----------------------------------------------------------------------------- Polya-Gamma bound
def _nb_kernel(y, r, psi):
    """log[sigmoid(psi)^y (1 - sigmoid(psi))^r]: scipy's NB log-pmf without its binomial coefficient."""
    log_coef = gammaln(y + r) - gammaln(r) - gammaln(y + 1)
    return stats.nbinom(r, 1.0 - expit(psi)).logpmf(y) - log_coef


BOUND_CASES = [  # (name, psi, b, kappa, exact log-likelihood kernel from scipy)
    ("bernoulli y=1", 0.7, 1.0, 0.5, stats.bernoulli(expit(0.7)).logpmf(1)),
    ("bernoulli y=0", -2.3, 1.0, -0.5, stats.bernoulli(expit(-2.3)).logpmf(0)),
    ("nb r=4 y=7", np.log(6.0 / 4.0), 11.0, 1.5, _nb_kernel(7.0, 4.0, np.log(6.0 / 4.0))),
    ("nb r=0.5 y=0", -1.2, 0.5, -0.25, _nb_kernel(0.0, 0.5, -1.2)),
]


@pytest.mark.parametrize("name,psi,b,kappa,exact", BOUND_CASES, ids=[c[0] for c in BOUND_CASES])
def test_pg_bound_tight_at_point_mass_and_below_elsewhere(name, psi, b, kappa, exact):
    """With Var[psi] = 0 and c = |psi| the PG-augmented bound equals the exact log-likelihood
    kernel; with any other c it is strictly below."""
    with jax.enable_x64(True):
        tight = float(pg_loglik_bound(b, kappa, psi, psi**2, abs(psi)))
        loose = float(pg_loglik_bound(b, kappa, psi, psi**2, abs(psi) + 1.0))
    assert tight == pytest.approx(exact, abs=1e-10)
    assert loose < tight - 1e-6


# ----------------------------------------------------------------------------- mofapy2
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_agrees_with_mofapy2_gaussian():
    """Gaussian-only data: CAVI and mofapy2 (spike-and-slab + ARD) find the same factors,
    |corr| >= 0.99 after matching (N=300, K=3, seed 1). Factor scales 2 : 1.2 : 0.6 make the
    factors the principal axes, so mofapy2's PCA start is not left in a rotated local optimum
    (with equal scales it stops at max-|corr| ~0.85 while CAVI's varimax start reaches 0.99).
    With seed 0 mofapy2 ("slow" mode) stops at 0.98 to the truth on one factor (CAVI: 0.999)."""
    mofa = pytest.importorskip("mofapy2.run.entry_point")
    arrays, z, _ = simulate(n=300, dims=(80, 60), likelihoods=("gaussian", "gaussian"), seed=1,
                            factor_scales=(2.0, 1.2, 0.6))
    res = fit_quiet(arrays, 3, num_draws=2)
    ent = mofa.entry_point()
    ent.set_data_options(scale_views=False, center_groups=True)
    ent.set_data_matrix([[v.y] for v in arrays.views], likelihoods=["gaussian", "gaussian"])
    ent.set_model_options(factors=3, spikeslab_weights=True, ard_weights=True)
    ent.set_train_options(iter=2000, convergence_mode="slow", seed=0, verbose=False, quiet=True)
    ent.build()
    ent.run()
    z_mofa = ent.model.nodes["Z"].getExpectation()
    assert matched_abs_corr(z_mofa, res.moments["Z"]).min() >= 0.99
    assert matched_abs_corr(z, res.moments["Z"]).mean() >= 0.95


# ----------------------------------------------------------------------------- dispersion rule
def test_nb_dispersion_derivatives_match_autodiff():
    """The closed-form Newton derivatives of the collapsed NB objective equal JAX autodiff
    (including an entry with Var[eta] = 0 and E[psi] = 0, where c = 0)."""
    from rgfactor.generative.likelihoods import NEGATIVE_BINOMIAL as nb

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        import jax.numpy as jnp

        y = jnp.asarray(rng.negative_binomial(3, 0.3, (40, 4)).astype(float))
        mask = jnp.asarray(rng.random((40, 4)) > 0.1, dtype=float)
        e_eta = jnp.asarray(rng.normal(1, 1, (40, 4)))
        var = jnp.asarray(rng.random((40, 4)) * 0.5)
        log_phi = jnp.log(jnp.array([3.0, 0.5, 20.0, 1.0]))
        var, e_eta = var.at[0, 1].set(0.0), e_eta.at[0, 1].set(log_phi[1])
        total = lambda lp: jnp.sum(nb.collapsed(y, mask, e_eta, var, lp, 2.0))  # noqa: E731
        # each side one compiled program (op by op, autodiff's operations compiled one program each)
        grad, hess = jax.jit(lambda lp: (jax.grad(total)(lp), jax.jvp(jax.grad(total), (lp,), (jnp.ones(4),))[1]),
                             compiler_options=QUICK_COMPILE)(log_phi)
        g, h = jax.jit(lambda lp: nb.collapsed_derivatives(y, mask, e_eta, var, lp, 2.0),
                       compiler_options=QUICK_COMPILE)(log_phi)
    ok = np.isfinite(np.asarray(grad))   # autodiff is NaN where c = 0; the closed form is not
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.isfinite(np.asarray(h)))
    np.testing.assert_allclose(np.asarray(g)[ok], np.asarray(grad)[ok], rtol=1e-7)
    np.testing.assert_allclose(np.asarray(h)[ok], np.asarray(hess)[ok], rtol=1e-7)


@pytest.mark.parametrize("block", [256, 4])
def test_count_table_sums_equal_per_entry_sums(block, monkeypatch):
    """Sums over the table of distinct (feature, count) pairs equal sums over the observed entries, for
    non-integer counts and missing entries, whether the table is built in one block of features or in
    several; a table over the size limit is not built."""
    from rgfactor.generative.likelihoods import count_table as module
    from rgfactor.generative.likelihoods.count_table import count_table

    monkeypatch.setattr(module, "FEATURE_BLOCK", block)

    rng = np.random.default_rng(1)
    y = rng.poisson(2.0, (50, 6)).astype(float)
    y[:, 4] = 0.0            # a feature without a positive count
    y[::7, 5] += 0.5         # non-integer values
    mask = rng.random(y.shape) > 0.2
    table = count_table(np.where(mask, y, 99.0), mask, max_fraction=1.0)   # unobserved values are never read
    phi = np.array([0.3, 1.0, 4.0, 20.0, 2.0, 0.7])
    f = table["count_feature"]
    assert np.all(np.diff(f) >= 0) and table["count_weights"].sum() == np.sum(mask & (y > 0))
    got = np.bincount(f, table["count_weights"] * (gammaln(table["count_values"] + phi[f]) - gammaln(phi[f])),
                      minlength=6)
    want = np.sum(np.where(mask, gammaln(y + phi) - gammaln(phi), 0.0), axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert count_table(y, mask, max_fraction=0.01) == {}


def test_nb_dispersion_derivatives_from_the_count_table():
    """The Newton derivatives and the collapsed objective are the same with the special functions summed
    over the table of distinct counts as over every entry."""
    from rgfactor.generative.likelihoods import NEGATIVE_BINOMIAL as nb
    from rgfactor.generative.likelihoods.count_table import count_table

    rng = np.random.default_rng(2)
    y = rng.negative_binomial(3, 0.4, (60, 5)).astype(float)
    mask = rng.random(y.shape) > 0.15
    table = count_table(y, mask, max_fraction=1.0)
    with jax.enable_x64(True):
        jnp = jax.numpy
        args = (jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(mask, dtype=float),
                jnp.asarray(rng.normal(1, 1, y.shape)), jnp.asarray(rng.random(y.shape) * 0.5),
                jnp.log(jnp.array([3.0, 0.5, 20.0, 1.0, 8.0])))
        jtable = {k: jnp.asarray(v) for k, v in table.items()}
        for a, b in zip(nb.collapsed_derivatives(*args, 2.0), nb.collapsed_derivatives(*args, 2.0, table=jtable)):
            # sums of ~100 terms of size ~10 in another order: relative 1e-11, absolute 1e-9 where they cancel
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-11, atol=1e-9)
        np.testing.assert_allclose(np.asarray(nb.collapsed(*args, 2.0, table=jtable)),
                                   np.asarray(nb.collapsed(*args, 2.0)), rtol=1e-12)


@pytest.mark.timeout(120)
def test_nb_fit_same_with_and_without_the_count_table(monkeypatch):
    """The full-batch engine's NB dispersion updates read the table of distinct counts when it is small
    (COUNT_TABLE_FRACTION); the fit is the same as with per-entry sums, sweep by sweep."""
    import rgfactor.generative.likelihoods.count_table as counts

    arrays, _, _ = simulate(likelihoods=("negative_binomial", "gaussian"))
    model = cavi_model(arrays, 3)
    fits = {}
    for fraction in (0.0, 1.0):
        monkeypatch.setattr(counts, "COUNT_TABLE_FRACTION", fraction)
        with jax.enable_x64(True):
            data = prepare_data(model, make_plan(model, arrays), arrays)
        assert ("count_values" in data["global"][0]) == (fraction > 0)
        fits[fraction] = fit_quiet(arrays, 3, max_iter=12, tol=0.0, num_draws=2)
    dense, table = fits[0.0], fits[1.0]
    np.testing.assert_allclose(table.elbo, dense.elbo, rtol=1e-11)
    lp = [f.state["global"]["views"][0]["lik"]["log_phi"] for f in (dense, table)]
    assert not np.allclose(lp[0], np.log(100.0))   # the dispersion moved
    np.testing.assert_allclose(lp[1], lp[0], rtol=1e-9, atol=1e-9)


def test_digamma_trigamma_series():
    from scipy.special import digamma, polygamma

    from rgfactor.generative.conjugate import digamma_trigamma

    x = np.array([1e-3, 0.1, 1.0, 5.5, 50.0, 1e4])
    with jax.enable_x64(True):
        psi, psi1 = digamma_trigamma(jax.numpy.asarray(x))
    np.testing.assert_allclose(np.asarray(psi), digamma(x), atol=1e-9)
    np.testing.assert_allclose(np.asarray(psi1), polygamma(1, x), rtol=1e-9)


def test_accurate_special_functions_match_scipy_and_numpyro():
    """The fused digamma and log-Gamma of the sweep's Gamma and Beta parameters agree with SciPy to float64
    round-off (relative to max(1, |value|)) from 1e-8 to 1e6, and the Gamma entropy with NumPyro's."""
    import numpyro.distributions as dist
    from scipy.special import digamma

    from rgfactor.generative.conjugate import digamma_positive, gamma_entropy, lgamma_accurate

    x = np.logspace(-8, 6, 2001)
    with jax.enable_x64(True):
        psi, lg = np.asarray(digamma_positive(jax.numpy.asarray(x))), np.asarray(lgamma_accurate(jax.numpy.asarray(x)))
        a, b = np.array([1e-3, 0.5, 1.0, 7.5, 1e3]), np.array([2.0, 0.1, 1.0, 30.0, 5.0])
        h = np.asarray(gamma_entropy(jax.numpy.asarray(a), jax.numpy.asarray(b)))
        h_ref = np.asarray(dist.Gamma(jax.numpy.asarray(a), jax.numpy.asarray(b)).entropy())
    assert np.max(np.abs(psi - digamma(x)) / np.maximum(1.0, np.abs(digamma(x)))) < 1e-13
    assert np.max(np.abs(lg - gammaln(x)) / np.maximum(1.0, np.abs(gammaln(x)))) < 1e-13
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-12)


def test_batched_gaussian_scalar_blocks_equal_the_factorised_path():
    """1 x 1 precisions (a view whose only term is the intercept) skip the Cholesky factorisation: same
    mean, variance and log-determinant as the general path."""
    from rgfactor.generative import conjugate

    rng = np.random.default_rng(5)
    prec, lin = rng.gamma(2.0, 1.0, (40, 1, 1)), rng.standard_normal((40, 1))
    with jax.enable_x64(True):
        got = conjugate.batched_gaussian(jax.numpy.asarray(prec), jax.numpy.asarray(lin))
        padded = np.zeros((40, 2, 2))   # the same blocks, decoupled from an identity block: general path
        padded[:, 0, 0], padded[:, 1, 1] = prec[:, 0, 0], 1.0
        ref = conjugate.batched_gaussian(jax.numpy.asarray(padded), jax.numpy.asarray(np.c_[lin, np.zeros(40)]))
    np.testing.assert_allclose(np.asarray(got[0])[:, 0], np.asarray(ref[0])[:, 0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got[1])[:, 0, 0], np.asarray(ref[1])[:, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got[2]), np.asarray(ref[2]), rtol=1e-12, atol=1e-12)


def test_lgamma_positive_matches_scipy():
    from rgfactor.generative.conjugate import lgamma_positive

    x = np.array([1e-3, 0.1, 0.5, 1.0, 2.0, 5.5, 50.0, 1e4, 1e6])
    with jax.enable_x64(True):
        got = np.asarray(lgamma_positive(jax.numpy.asarray(x)))
    np.testing.assert_allclose(got, gammaln(x), rtol=1e-10, atol=1e-8)


def test_beta_entropy_and_prior_log_normalisers():
    """beta_entropy (one stacked call per special function) equals the Beta entropy computed by SciPy
    over the arguments the sweep sees (1 to 1 + number of features; the terms reach 5e4 in magnitude and
    cancel, so agreement to 1e-8 absolute is float64's); gamma_elp and beta_elp give the same value with
    the prior's constants evaluated by SciPy at trace time and with traced prior parameters."""
    import numpyro.distributions as dist
    from scipy.special import betaln, digamma

    from rgfactor.generative.conjugate import beta_elp, beta_entropy, gamma_elp

    a = np.array([1.0, 1.5, 3.0, 40.0, 2001.0, 1.0])
    b = np.array([1.0, 7.0, 1999.0, 2.5, 1.0, 5001.0])
    with jax.enable_x64(True):
        jnp = jax.numpy
        want = betaln(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)
        np.testing.assert_allclose(np.asarray(beta_entropy(jnp.asarray(a), jnp.asarray(b))), want, rtol=0, atol=1e-8)
        mean, mean_log = jnp.asarray([0.5, 2.0, 9.0]), jnp.asarray([-1.0, 0.4, 2.1])

        def elps(c, r, b1, b0):
            return (gamma_elp(dist.Gamma(c, r), mean, mean_log),
                    beta_elp(dist.Beta(b1, b0), mean_log - 3.0, -jnp.abs(mean_log) - 0.1))

        const = jax.jit(lambda: elps(2.5, 0.7, 1.3, 4.0))()
        traced = jax.jit(elps)(2.5, 0.7, 1.3, 4.0)
        for x, y in zip(const, traced):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(const[0]),
                                   np.asarray(dist.Gamma(2.5, 0.7).log_prob(jnp.exp(mean_log)))
                                   + 0.7 * (jnp.exp(mean_log) - mean), rtol=1e-12)


@pytest.mark.timeout(120)
def test_nb_lgamma_sum_follows_the_dispersion():
    """The NB view keeps sum_n mask (lgamma(y + phi) - lgamma(phi)) with phi for the ELBO: after sweeps
    that moved phi (on sweeps 1, 4, 7) it equals the sum recomputed at the final phi (missing entries out)."""
    sim, fit = MONOTONE_CASES[5][1:]   # 'missing-nb-ard': shares its compiled sweep
    arrays, _, _ = simulate(**sim)
    res = fit_quiet(arrays, 4, max_iter=7, tol=0.0, num_draws=2, **fit)
    q = res.state["global"]["views"][1]["lik"]
    view = arrays.views[1]
    phi = np.exp(q["log_phi"])[None, :]
    assert not np.allclose(q["log_phi"], np.log(100.0))   # the dispersion moved from its start
    want = np.sum(np.where(view.mask, gammaln(np.where(view.mask, view.y, 0.0) + phi) - gammaln(phi), 0.0), axis=0)
    np.testing.assert_allclose(q["gamma_sum"], want, rtol=1e-9)
