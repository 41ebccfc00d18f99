"""Shared fixtures: small simulated cohorts and one fitted model reused across tests."""

import atexit
import ctypes
import gc
import os
import shutil
import sys
import tempfile
import warnings


def _compilation_cache_for_this_run() -> None:
    """Opt-in (``RGFACTOR_TEST_COMPILATION_CACHE=1``): one fresh JAX persistent compilation cache for
    this test run, shared by the pytest-xdist workers and the tests' subprocesses (they inherit the
    environment), deleted when the run ends. Tests that fit the same program shapes again (a CLI
    subprocess after an in-process fit of the same spec) then load it instead of compiling it.

    Off by default, CI included: with jaxlib 0.9 loading a cached XLA:CPU program can end in a
    segmentation fault depending on the CPU (jax-ml/jax#38445), and it did so in a CI test worker where
    the cache had been written by the same run on the same machine (45106f5); a red CI costs more than
    the minutes this saves. A cache you configured yourself (``RGFACTOR_COMPILATION_CACHE`` set) is left
    alone. Must run before ``import rgfactor``."""
    if os.environ.get("RGFACTOR_TEST_COMPILATION_CACHE", "0").strip().lower() not in ("1", "true", "on", "yes"):
        return
    if "RGFACTOR_COMPILATION_CACHE" in os.environ:   # set by the user, or by the run's first process
        return
    path = tempfile.mkdtemp(prefix="rgfactor-test-jaxcache-")
    os.environ.update(RGFACTOR_COMPILATION_CACHE="1", RGFACTOR_CACHE_DIR=path)
    atexit.register(shutil.rmtree, path, True)   # only the process that made it (the pytest controller)


_compilation_cache_for_this_run()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import rgfactor as rgf  # noqa: E402
import rgfactor.inference  # noqa: E402,F401  (sets the cache up now, before any test compiles a program)


def _resident_gb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError, IndexError):
        return float("inf")


# Files that take longest (CI, --durations), longest first: pytest-xdist (--dist loadfile, scripts/test.sh
# with --no-loadscope-reorder) hands whole files to whichever worker is free in collection order, so long
# files started last leave one worker idle at the end while the other finishes them. xdist's own
# reordering sorts by the *number* of tests, which put the slowest files (1-3 long statistical tests
# each) last. Files not listed keep their order after these. Keep the list roughly in step with the
# durations that scripts/test.sh prints.
LONGEST_FILES_FIRST = (   # measured: sum of --durations=0 per file, full run of 2026-12-05 (files over 10 s)
    "test_model.py", "test_components.py", "test_cavi.py", "test_gp_factors.py", "test_mediation.py", "test_svc.py",
    "test_interrupt_determinism.py", "test_recovery.py", "test_sites.py", "test_engines_agree.py", "test_spec_cli.py",
    "test_view_weights.py", "test_pcca.py", "test_zoo_cli.py", "test_model_selection.py", "test_cavi_vs_nuts.py",
    "test_cavi_stochastic.py", "test_benchmark_harness.py", "test_extending.py", "test_bad_input.py",
    "test_region_factors.py", "test_conv_basis.py", "test_cavi_sharding.py", "test_report_html.py",
    "test_svi_programs.py", "test_large_cohorts.py", "test_nuts_programs.py", "test_ppls.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: order within a file kept


@pytest.fixture(scope="module", autouse=True)
def _release_memory_after_each_file():
    """After each test file: drop JAX's compiled programs and return freed heap to the OS.

    A test worker runs many files (pytest-xdist, two workers by default); without this its resident
    memory grew to 5-6 GB by the end of the suite (compiled XLA programs of every earlier file and
    malloc arenas that keep freed memory), two such workers together near the memory of a small CI
    machine, where allocation failures end a worker (segmentation fault or abort inside XLA)."""
    yield
    if "jax" in sys.modules and _resident_gb() > 2.5:   # recompiling is slow: drop programs only when big
        sys.modules["jax"].clear_caches()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc
        pass


@pytest.fixture(scope="session")
def small_cohort():
    """N=60 subjects, NB + Gaussian + Bernoulli views, 2 sites, missing views and entries."""
    views = {"rna": ("negative_binomial", 30), "radiomics": ("gaussian", 20), "mutations": ("bernoulli", 12)}
    return rgf.simulate.multiview(n_subjects=60, n_factors=2, views=views, n_sites=2, random_state=3)


@pytest.fixture(scope="session")
def fitted_small(small_cohort):
    data, _ = small_cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.GFA(n_factors=3, site_effects=True, num_draws=50, random_state=0).fit(data)  # default engine


def frame(values, prefix="f", n0=0):
    values = np.asarray(values, dtype=float)
    return pd.DataFrame(values, index=[f"s{i + n0}" for i in range(values.shape[0])],
                        columns=[f"{prefix}{j}" for j in range(values.shape[1])])


def matched_factors(truth_z, z):
    """(columns of ``z`` matched to each true factor by |corr| (Hungarian), their |corr|)."""
    from scipy.optimize import linear_sum_assignment

    k = truth_z.shape[1]
    c = np.corrcoef(np.c_[truth_z, z].T)[:k, k:]
    rows, cols = linear_sum_assignment(-np.abs(c))
    return cols, np.abs(c[rows, cols])


# ----------------------------------------------------------------------------- engine-level helpers
def cavi_cohort(n=120, n_factors=3, dims=(30, 25), likelihoods=("gaussian", "bernoulli"), seed=0, missing=0.0,
                missing_view=False, n_sites=0, n_cov=0, density=0.5, factor_scales=None, dispersion=5.0):
    """(ModelArrays, true Z, true loadings per view) from rgf.simulate.multiview with every factor
    active in every view (views named v0, v1, ...)."""
    views = {f"v{m}": (lik, d) for m, (lik, d) in enumerate(zip(likelihoods, dims))}
    data, truth = rgf.simulate.multiview(
        n_subjects=n, n_factors=n_factors, views=views, n_sites=n_sites, n_covariates=n_cov,
        fraction_nonzero=density, activity=np.ones((len(views), n_factors), dtype=int), factor_scales=factor_scales,
        missing_entries=missing, missing_views=0.12 if missing_view else 0.0, dispersion=dispersion,
        noise_sd=0.7, random_state=seed)
    return rgf.simulate.model_arrays(data), truth["Z"], [truth["W"][v] for v in views]


def cavi_model(arrays, n_factors, sparsity="spike_and_slab", site_effects=False, **kw):
    """The model description of a GFA on ``arrays`` (closed-form engine tests)."""
    from rgfactor.generative.model import config_from_arrays, describe

    return describe(config_from_arrays(arrays, n_factors, sparsity=sparsity, site_effects=site_effects, **kw))


def fit_cavi_quiet(arrays, k, sparsity="spike_and_slab", site_effects=False, **kw):
    from rgfactor.inference.cavi import fit_cavi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_cavi(cavi_model(arrays, k, sparsity, site_effects), arrays, **kw)
