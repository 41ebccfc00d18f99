"""glibc's allocator keeps the memory that programs free (rgfactor.inference.allocator): checked in fresh
processes, since the setting is process-wide and applied once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# allocate, free and allocate again 64 MB (NumPy takes it from malloc), touching every page; print the
# minor page faults of the second round (a kept heap: none; memory returned to the kernel: every page again)
PROBE = """
import resource, numpy as np
import rgfactor.inference.allocator as a
import rgfactor.inference
def touch():
    x = np.empty(8 * 2**20); x[:] = 1.0; return float(x[-1])
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(a.keep_freed_memory(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(**extra) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "RGFACTOR_KEEP_FREED_MEMORY")}
    env.update(extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied, int(faults)


def test_switched_off_by_the_variable_or_the_users_own_tuning(monkeypatch):
    from rgfactor.inference import allocator

    for key in [k for k in os.environ if k.startswith("MALLOC_")] + ["GLIBC_TUNABLES", allocator.ENV_SWITCH]:
        monkeypatch.delenv(key, raising=False)
    on_glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    assert allocator.wanted() == on_glibc
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    assert not allocator.wanted()
    monkeypatch.delenv(allocator.ENV_SWITCH)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not allocator.wanted()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000")
    assert not allocator.wanted()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
@pytest.mark.timeout(240)
def test_freed_memory_is_reused_without_page_faults():
    applied, faults = _probe()
    if applied != "True":
        pytest.skip("not glibc")
    assert faults < 10   # 64 MB again: 16,384 pages (32 huge pages) if it had gone back to the kernel
    applied, faults = _probe(RGFACTOR_KEEP_FREED_MEMORY="0")
    assert applied == "False"
