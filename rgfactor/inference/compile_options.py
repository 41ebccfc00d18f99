"""XLA compiler options shared by the engines and the posterior layer (which may import inference).

``FAST_COMPILE``: XLA:CPU's elemental code emitters instead of its newer MLIR fusion emitters
(``xla_cpu_use_fusion_emitters=False``). On this project's programs they compile in about half the time with
the same results bit for bit (S1's closed-form sweep at -O0: 2.56 -> 1.35 s to compile, 23 vs 21 ms per
sweep, the same ELBO to the last digit), but the loops they generate can run slower: S1 with a negative
binomial view, optimised sweep 0.17 -> 0.19 s; a GFA fit by SVI, its second fit 0.8 -> 1.2 s
(``benchmarks/first_fit.py``). So it is used where compilation is what the user waits for: programs run
once per fit, small closed-form sweeps, NUTS's transitions (first GFA fit by NUTS 12.1 -> 10.8 s, the second
unchanged at 2.0 s), the new-subject programs; SVI's steps and large sweeps keep the default (a short SVI run of a small model:
``NOT_OPTIMISED``, ``inference/svi.QUICK_COMPILE_WORK``: with the elemental emitters at -O0 SVI's optimisation
chunk gave different results in different processes, found by tests/test_interrupt_determinism.py; either
option alone gives the same result every time). The option is
a field of XLA's debug options, shared by every backend: a GPU backend accepts it and ignores it.

``QUICK_COMPILE``: the elemental emitters and XLA's backend optimisation off (LLVM -O0), which roughly halves
compile time again, for programs whose compilation a few calls do not pay back: those run once per fit (the SVI
and NUTS set-up and draws, variance explained; the first GFA fit by SVI 10.7 -> 9.1 s) and the closed-form
sweep of a small model (``inference/cavi_sweep.QUICK_COMPILE_WORK``). Programs that loop long keep the default
optimisation: at -O0 SVI's steps made that fit 14.2 s.

:func:`without_validation`: a function traced into a compiled program with NumPyro's argument validation off
(on by default in NumPyro 0.22), for every compiled program that runs NumPyro code (the closed-form sweep, the
SVI and NUTS programs, the SVC's Savage-Dickey density). In a traced program validation can only check
constants, op by op, each check compiled as a program of its own (the full-rank SVI guide's initial scale
matrix alone compiled ~60 such programs per fit), or emit checks on traced values whose results nothing reads
(in S1's closed-form sweep 250 of its 2,000 operations, traced, lowered and handed to XLA for nothing).
"""

import functools

import numpyro

FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False}
NOT_OPTIMISED = {"xla_backend_optimization_level": 0}   # LLVM -O0, XLA:CPU's default emitters
QUICK_COMPILE = {**NOT_OPTIMISED, **FAST_COMPILE}   # least compile time


def without_validation(fn):
    """``fn`` run with NumPyro's distribution argument validation off (for functions that ``jax.jit`` traces;
    the signature is ``fn``'s, so ``jax.jit``'s static arguments work through it)."""
    @functools.wraps(fn)
    def traced(*args, **kwargs):
        with numpyro.validation_enabled(False):
            return fn(*args, **kwargs)
    # the program's name in JAX's logs and profiles: the function's, also through functools.partial
    traced.__name__ = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "traced")
    return traced
