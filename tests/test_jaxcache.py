"""JAX's persistent compilation cache is opt-in (rgfactor.inference.jaxcache): with jaxlib 0.9 loading
cached XLA:CPU programs crashed a CI worker. Checked in fresh processes (JAX's config is global)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import rgfactor.inference, jax, os; "
         "print(jax.config.jax_compilation_cache_dir or ''); print(os.environ.get('TF_CPP_MIN_LOG_LEVEL', ''))")


def _probe(tmp_path, **extra) -> list[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RGFACTOR_COMPILATION_CACHE", "TF_CPP_MIN_LOG_LEVEL", "JAX_COMPILATION_CACHE_DIR")}
    env.update(RGFACTOR_CACHE_DIR=str(tmp_path / "cache"), **extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.timeout(240)
def test_compilation_cache_is_off_unless_asked_for(tmp_path):
    cache_dir, log_level = _probe(tmp_path)
    assert cache_dir == "" and log_level != "3"   # JAX itself sets 1 (its default)
    assert not (tmp_path / "cache").exists()

    cache_dir, log_level = _probe(tmp_path, RGFACTOR_COMPILATION_CACHE="1")
    assert cache_dir.startswith(str(tmp_path / "cache")) and log_level == "3"
