"""JAX's persistent compilation cache in a per-user directory, keyed by machine.

A fit compiles its sweep once per model shape; with the cache, a fresh Python process that fits the
same shapes again loads the compiled programs from disk instead of compiling them (seconds saved per
fit). XLA compiles for the host CPU's instruction set, so the cache directory is keyed by the JAX
version, the platform and a hash of the CPU model and feature flags: another machine (or a CI runner
with a different CPU) never loads binaries built for this one.

Location: ``$RGFACTOR_CACHE_DIR`` or ``$XDG_CACHE_HOME/rgfactor`` or ``~/.cache/rgfactor``, then
``jax-<version>-<machine>-<cpu hash>``. Switch it off with ``RGFACTOR_COMPILATION_CACHE=0``; a cache
directory you configured yourself (``jax.config.update("jax_compilation_cache_dir", ...)``) is left
alone. Delete the directory to clear it.

XLA:CPU logs two spurious error lines per program loaded from the cache (jax-ml/jax#38445, LLVM tuning
flags checked as CPU features; the cache is keyed by this CPU, so they do not apply). ``import
rgfactor`` therefore sets ``TF_CPP_MIN_LOG_LEVEL=3`` when JAX is not yet imported and you have not set
it; otherwise the cache is used only if you ask for it with ``RGFACTOR_COMPILATION_CACHE=1``.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

ENV_SWITCH = "RGFACTOR_COMPILATION_CACHE"
ENV_DIR = "RGFACTOR_CACHE_DIR"


def cpu_key() -> str:
    """A short hash of this machine's CPU identity (model name and feature flags)."""
    ident = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key = line.split(":", 1)[0].strip().lower()
                if key in ("model name", "flags", "features", "cpu implementer", "cpu part"):
                    ident.append(line.strip())
                if len(ident) > 6:
                    break
    except OSError:
        pass
    return hashlib.sha256("\n".join(ident).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    import jax

    base = os.environ.get(ENV_DIR) or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                   "rgfactor")
    return Path(base) / f"jax-{jax.__version__}-{platform.machine()}-{cpu_key()}"


def enable() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (unless switched off or already
    configured). Returns the directory in use, or None."""
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("0", "false", "off", "no"):
        return None
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3" and switch not in ("1", "true", "on", "yes"):
        return None   # the loader's spurious error lines could not be silenced (see the module docstring)
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:   # read-only home: run without a persistent cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
