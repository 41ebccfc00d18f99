"""rgfactor.inference.overlap.compile_aside: a program compiled on a worker thread while the caller works."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rgfactor.inference.overlap import compile_aside

LOGGERS = ("jax._src.dispatch", "jax._src.interpreters.pxla", "jax._src.compiler")


class Compilations(logging.Handler):
    """Names of the programs XLA compiles while installed (JAX's own log of its compilations)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.names = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Finished XLA compilation of"):
            self.names.append(msg.split()[4])

    def __enter__(self):
        self._log = jax.config.jax_log_compiles
        jax.config.update("jax_log_compiles", True)
        self._levels = []
        for name in LOGGERS:
            lg = logging.getLogger(name)
            self._levels.append(lg.level)
            lg.addHandler(self)
            lg.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        for name, level in zip(LOGGERS, self._levels):
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)
        jax.config.update("jax_log_compiles", self._log)


@pytest.mark.timeout(60)
def test_the_call_after_compile_aside_compiles_nothing_and_computes_the_same():
    """Under x64 (re-entered on the worker), the program compiled aside is the one the caller's call uses:
    no compilation at the call, the same values as a plain jit; ``before`` runs and returns, ``during`` runs."""
    def f(x, n):
        return jnp.sin(x) @ x.T * n

    x = np.random.default_rng(0).standard_normal((64, 16))
    with jax.enable_x64(True):
        fn, plain = jax.jit(f, static_argnums=1), jax.jit(f, static_argnums=1)
        calls = []
        with Compilations() as log:
            got = compile_aside(fn, (x, 3), before=lambda: "start", during=lambda: calls.append(1))
        assert got == "start" and calls == [1]
        assert len(log.names) == 1, log.names   # the worker's compilation
        with Compilations() as log:
            y = fn(x, 3)
        assert log.names == [] and y.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(y), np.asarray(plain(x, 3)))


@pytest.mark.timeout(60)
def test_errors_on_either_thread_reach_the_caller():
    fn = jax.jit(lambda x: x @ x)   # (3, 2) @ (3, 2): fails when traced on the worker

    with pytest.raises(TypeError):
        compile_aside(fn, (np.ones((3, 2)),), during=lambda: None)

    def no_start():
        raise ValueError("no start")

    with pytest.raises(ValueError, match="no start"):
        compile_aside(jax.jit(jnp.sin), (np.ones(3),), before=no_start)
    # a plain function: nothing to compile ahead, the caller's work still runs
    assert compile_aside(np.sin, (np.ones(3),), before=lambda: 7) == 7
