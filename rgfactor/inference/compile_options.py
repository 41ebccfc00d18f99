"""XLA compiler options shared by the engines and the posterior layer (which may import inference).

``FAST_COMPILE``: XLA:CPU's elemental code emitters instead of its newer MLIR fusion emitters
(``xla_cpu_use_fusion_emitters=False``). On this project's programs they compile in about half the time with
the same results bit for bit (S1's closed-form sweep at -O0: 2.56 -> 1.35 s to compile, 23 vs 21 ms per
sweep, the same ELBO to the last digit), but the loops they generate can run slower: S1 with a negative
binomial view, optimised sweep 0.17 -> 0.19 s; a GFA fit by SVI, its second fit 0.8 -> 1.2 s
(``benchmarks/first_fit.py``). So it is used where compilation is what the user waits for: programs run
once per fit, small closed-form sweeps, NUTS's transitions (first GFA fit by NUTS 12.1 -> 10.8 s, the second
unchanged at 2.0 s), the new-subject programs; SVI's steps and large sweeps keep the default. The option is
a field of XLA's debug options, shared by every backend: a GPU backend accepts it and ignores it.

``RUN_ONCE`` (= ``QUICK_COMPILE``): for programs that run once per fit (the SVI and NUTS set-up and draws,
variance explained) and small closed-form sweeps: XLA's backend optimisation off (LLVM -O0) as well, which
roughly halves their compile time again and which a single call does not pay back (the first GFA fit by SVI
10.7 -> 9.1 s). Programs that loop keep the default optimisation: at -O0 SVI's steps made that fit 14.2 s.

:func:`without_validation`: a function traced into a compiled program with NumPyro's argument validation off
(on by default in NumPyro 0.22). In a traced program validation can only check constants, op by op
(``rgfactor.inference.svi``, NO_VALIDATION), or emit checks on traced values whose results nothing reads: in
S1's closed-form sweep 250 of its 2,000 operations, traced, lowered and handed to XLA for nothing.
"""

import numpyro

FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False}
QUICK_COMPILE = {"xla_backend_optimization_level": 0, **FAST_COMPILE}   # least compile time
RUN_ONCE = QUICK_COMPILE   # also the closed-form sweep of a small model (inference/cavi_sweep.QUICK_COMPILE_WORK)


def without_validation(fn):
    """``fn`` run with NumPyro's distribution argument validation off (for functions that ``jax.jit`` traces)."""
    def traced(*args, **kwargs):
        with numpyro.validation_enabled(False):
            return fn(*args, **kwargs)
    # the program's name in JAX's logs and profiles: the function's, also through functools.partial
    traced.__name__ = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "traced")
    return traced
