"""The compiled SVI programs (rgfactor.inference.svi): one set-up program, reused by equal models."""

import warnings
from functools import partial

import jax
import numpy as np
import numpyro
import pytest

import rgfactor as rgf
from rgfactor.generative.model import model_data
from rgfactor.inference import svi as S


def _fit(data, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.GFA(n_factors=2, method="svi", max_iter=200, num_draws=10, random_state=seed).fit(data)


@pytest.fixture(scope="module")
def cohort():
    views = {"a": ("negative_binomial", 6), "b": ("gaussian", 5)}
    data, _ = rgf.simulate.multiview(n_subjects=20, n_factors=2, views=views, n_sites=0, random_state=3)
    return data


@pytest.mark.timeout(300)
def test_equal_models_reuse_the_compiled_programs(cohort):
    """The second fit of an equal model on data of the same shapes compiles nothing new, and the same
    seed gives the same posterior; the programs are equal values, not new closures."""
    first = _fit(cohort, 0)
    sizes = [f._cache_size() for f in (S._init, S._run_chunk, S._run_chunk_quick, S._draw)]
    again = _fit(cohort, 0)
    other = _fit(cohort, 1)
    assert [f._cache_size() for f in (S._init, S._run_chunk, S._run_chunk_quick, S._draw)] == sizes
    assert first.model_.program("svi") == again.model_.program("svi")
    assert hash(first.model_.program("svi")) == hash(again.model_.program("svi"))
    assert first.model_.program("svi") != first.model_.program("nuts")
    np.testing.assert_array_equal(first.idata_.posterior["Z"].values, again.idata_.posterior["Z"].values)
    assert not np.array_equal(first.idata_.posterior["Z"].values, other.idata_.posterior["Z"].values)


def _latent_draw(program, key, data):
    tr = numpyro.handlers.trace(numpyro.handlers.seed(program, key)).get_trace(data)
    return {n: s["value"] for n, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}


@pytest.mark.timeout(300)
def test_mean_field_start_equals_numpyros_own_initialisation(cohort):
    """The compiled start (initial locations from one forward run, passed to SVI.init as init_params)
    gives the state numpyro's SVI.init gives from the same initial values by its own search."""
    model = _fit(cohort, 0).model_
    program = model.program("svi")
    data = model.prepare_data(model_data(cohort.to_arrays()))
    key = jax.random.PRNGKey(0)
    # a value for every latent site (a prior draw), so that neither start draws from the prior itself
    values = {k: np.asarray(v) for k, v in jax.jit(partial(_latent_draw, program))(key, data).items()}
    recipe = S.Recipe(program, learning_rate=0.01)
    ours = S.start(recipe, key, data, values)
    _, svi = recipe.build(S.values_then_median(values))
    theirs = jax.jit(svi.init)(key, data)
    p_ours, p_theirs = (svi.optim.get_params(s.optim_state) for s in (ours, theirs))
    assert set(p_ours) == set(p_theirs) and len(p_ours) == 2 * len(values)
    for name in p_theirs:
        np.testing.assert_allclose(np.asarray(p_ours[name]), np.asarray(p_theirs[name]), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_short_runs_of_small_models_compile_quickly():
    """The optimisation chunk is compiled with the least compile time only when steps x data values is
    below QUICK_COMPILE_WORK (a short run of a small model), optimised otherwise."""
    small = {"y": np.zeros((25, 22)), "mask": np.ones((25, 22), bool)}
    large = {"y": np.zeros((200, 340)), "mask": np.ones((200, 340), bool)}
    assert S.chunk_program(200, small) is S._run_chunk_quick
    assert S.chunk_program(5000, large) is S._run_chunk
    assert S.chunk_program(int(S.QUICK_COMPILE_WORK / (2 * 25 * 22)) + 1, small) is S._run_chunk
