"""XLA:CPU's faster-compiling emitters (rgfactor.inference.compile_options.FAST_COMPILE) compute the same sweep.

The option changes how XLA generates code, not what it computes: a closed-form sweep compiled with it must
agree with the default compilation to floating-point round-off (the two compiled programs may order a
reduction differently, so the bound is relative round-off, not bit identity).
"""

import functools
import warnings

import jax
import numpy as np
import pytest

import rgfactor as rgf
import rgfactor.inference.cavi as cavi
from rgfactor.inference import cavi_sweep
from rgfactor.inference.compile_options import FAST_COMPILE, QUICK_COMPILE

pytestmark = pytest.mark.timeout(300)


def _captured_sweep(monkeypatch):
    """(model, plan, state, data) of the first sweep of a small fit with a count, a Gaussian and a binary view."""
    seen = {}
    original = cavi_sweep.make_step

    def capture(model, plan, quick_compile=False):
        step = original(model, plan, quick_compile)

        def wrapped(state, data):
            seen.setdefault("args", (model, plan, state, data))
            return step(state, data)
        return wrapped

    monkeypatch.setattr(cavi, "make_step", capture)
    data, _ = rgf.simulate.multiview(n_subjects=80, n_factors=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgf.GFA(n_factors=3, method="cavi", max_iter=3, progress=False).fit(data)
    return seen["args"]


def test_fast_compile_options_compute_the_same_sweeps(monkeypatch):
    model, plan, state, data = _captured_sweep(monkeypatch)
    with jax.enable_x64(True):
        runs = {}
        for name, options in (("default", None), ("fast", FAST_COMPILE), ("quick", QUICK_COMPILE)):
            step = jax.jit(functools.partial(cavi_sweep._step, model, plan), compiler_options=options)
            s, trace = state, []
            for _ in range(4):
                s, elbo = step(s, data)
                trace.append(float(elbo))
            runs[name] = (jax.tree_util.tree_leaves(jax.device_get(s)), np.array(trace))
    ref_leaves, ref_trace = runs["default"]
    assert np.all(np.diff(ref_trace) > 0)   # a working sweep: the ELBO rises
    for name in ("fast", "quick"):
        leaves, trace = runs[name]
        np.testing.assert_allclose(trace, ref_trace, rtol=1e-10, err_msg=name)
        for a, b in zip(leaves, ref_leaves):
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-7, atol=1e-9, err_msg=name)
