"""Compile a program on a worker thread while the caller's thread does other work.

In a fresh process the first call of an engine's main program (the closed-form sweep, SVI's optimisation
chunk) traces, lowers and compiles it: 1-4 s on CPU, most of what a small fit waits for. Tracing and
lowering hold Python's GIL; XLA's compilation does not. :func:`compile_aside` traces and lowers the program
on a worker thread while the caller runs ``before`` (work that does not need the GIL for long, such as the
PCA start: NumPy and BLAS), then compiles it while the caller runs ``during`` (work that needs the GIL but
not the program, such as importing the posterior layer's libraries, which a fit does afterwards anyway).
The compiled program lands in JAX's caches, where the caller's own call of the program finds it (checked:
the call after an ahead-of-time ``lower(...).compile()`` compiles nothing), so the results are those of a
plain call and later fits of the same shapes are unchanged.

JAX's configuration contexts are per thread: the worker re-enters the caller's x64 setting and default
device; other contexts the caller entered (e.g. ``jax.default_matmul_precision``) do not reach it.
"""

from __future__ import annotations

import concurrent.futures
import threading

import jax


def compile_aside(fn, args: tuple, *, before=None, during=None):
    """Compile the jitted ``fn`` for ``args`` on a worker thread; meanwhile run ``before()`` here (while the
    worker traces and lowers), then ``during()`` (while it compiles). Returns ``before()``'s result (None
    without ``before``) once the program is compiled; call ``fn(*args)`` (or on arguments of the same shapes)
    afterwards. ``args`` may hold arrays or ``jax.ShapeDtypeStruct`` placeholders and ``fn``'s static
    arguments in their positions.

    Errors of either thread are raised here, once both have finished. A ``fn`` without ``lower`` (not a
    ``jax.jit`` object) is not compiled ahead: ``before`` and ``during`` just run.
    """
    if not hasattr(fn, "lower"):
        result = before() if before is not None else None
        if during is not None:
            during()
        return result
    lowered = threading.Event()
    x64, device = jax.config.jax_enable_x64, jax.config.jax_default_device

    def compile_program():
        try:
            with jax.enable_x64(x64), jax.default_device(device):
                program = fn.lower(*args)
        finally:
            lowered.set()
        program.compile()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rgfactor-compile") as pool:
        future = pool.submit(compile_program)
        result = before() if before is not None else None
        lowered.wait()
        if during is not None:
            during()
        future.result()
    return result
