"""JAX's persistent compilation cache in a per-user directory, keyed by machine: **opt-in**.

A fit compiles its sweep once per model shape; with the cache, a fresh Python process that fits the
same shapes again loads the compiled programs from disk instead of compiling them (measured: the
standard simulation S1 from ``import rgfactor`` to the fitted factors in a fresh process 2.9-3.0 s without
the cache, 2.6 s with a filled one; with a negative binomial view 8.3-8.9 s and 5.6 s: benchmarks/perf_vs_mofapy2.py).

Off unless you set ``RGFACTOR_COMPILATION_CACHE=1``: with jaxlib 0.9 (the version rgfactor pins),
XLA:CPU compiles with LLVM tuning attributes (``+prefer-no-gather``, ``+prefer-no-scatter``) that its
own loader then checks as CPU features (jax-ml/jax#38445); depending on the CPU the cached program is
either rejected or loaded, and loading has been seen to end in a segmentation fault on Linux
(uwplasma/vmex#222) -- and did so in rgfactor's own CI, on a CPU other than the one it was tested on.
Turn it on only on a machine where a fresh process loading a filled cache has worked.

Location: ``$RGFACTOR_CACHE_DIR`` or ``$XDG_CACHE_HOME/rgfactor`` or ``~/.cache/rgfactor``, then
``jax-<version>-<machine>-<cpu hash>``: the directory is keyed by the JAX version, the platform and a hash
of the CPU model and feature flags, so another machine never loads binaries built for this one. A cache
directory you configured yourself (``jax.config.update("jax_compilation_cache_dir", ...)``) is left
alone. Delete the directory to clear it.

When you opt in, ``import rgfactor`` sets ``TF_CPP_MIN_LOG_LEVEL=3`` (if JAX is not yet imported and
you have not set it) to hide the loader's two error lines per program.
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


def requested() -> bool:
    """Whether the user opted in with ``RGFACTOR_COMPILATION_CACHE=1`` (or true/on/yes)."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() in ("1", "true", "on", "yes")


def enable() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` when the user opted in with
    ``RGFACTOR_COMPILATION_CACHE=1`` and has not configured one. Returns the directory in use, or None."""
    if not requested():
        return None   # opt-in only (see the module docstring)
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
