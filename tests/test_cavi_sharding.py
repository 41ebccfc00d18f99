"""Sharding the subject axis over 2 (forced host) devices gives the unsharded CAVI result."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import sys, warnings
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    assert jax.device_count() == 2, jax.devices()
    from conftest import cavi_cohort, cavi_model
    from rgfactor.inference.cavi import fit_cavi
    arrays, _, _ = cavi_cohort(n=120, likelihoods=("gaussian", "negative_binomial"), missing=0.05, n_sites=2)
    warnings.simplefilter("ignore")
    for sparsity in ("spike_and_slab", "ard"):   # ARD: with the scaling step's sums over subjects
        model = cavi_model(arrays, 3, sparsity=sparsity, site_effects=True)
        a = fit_cavi(model, arrays, max_iter=25, tol=0.0, num_draws=3)
        b = fit_cavi(model, arrays, max_iter=25, tol=0.0, num_draws=3, shard_subjects=True)
        assert len(b.state["local"]["Z_m"]) == 120
        np.testing.assert_allclose(b.elbo, a.elbo, rtol=1e-10)
        for name in a.draws:
            np.testing.assert_allclose(b.draws[name], a.draws[name], rtol=1e-6, atol=1e-8, err_msg=name)
    print("SHARDED-OK")
""")


@pytest.mark.timeout(150)
def test_sharded_subjects_equal_unsharded():
    tests = str(Path(__file__).parent)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=tests)], env=env,
                         capture_output=True, text=True, timeout=140)
    assert out.returncode == 0 and "SHARDED-OK" in out.stdout, out.stderr[-3000:]
