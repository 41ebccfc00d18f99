"""XLA compiler options shared by the engines and the posterior layer (which may import inference).

``RUN_ONCE``: for programs that run once per fit (the SVI and NUTS set-up and draws, variance explained):
XLA's backend optimisation off (LLVM -O0) roughly halves their compile time on CPU, which a single call does
not pay back (benchmarks/first_fit.py: the first GFA fit by SVI 10.7 -> 9.1 s). Programs that loop (CAVI
sweeps, SVI steps, NUTS transitions) keep the default: at -O0 SVI's steps made that fit 14.2 s.
"""

RUN_ONCE = {"xla_backend_optimization_level": 0}
