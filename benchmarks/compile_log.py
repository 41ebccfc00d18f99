"""Which XLA programs a fit compiles, and where from: every compilation attributed to its Python caller.

A fit in a fresh process should compile a handful of programs (the sweep or the optimiser's steps, the
set-up, the draws); dozens of one-operation programs mean array code run op by op outside a compiled program
(each operation then compiles a program of its own, 10-30 ms apiece on CPU). This lists, per program name and
the last two rgfactor frames of the stack that compiled it, the count and the compile seconds.

    python benchmarks/compile_log.py svc        # or any other case of benchmarks/first_fit.py

(The first fit, seed 0, of a case of benchmarks/first_fit.py, in this process.)
"""

from __future__ import annotations

import collections
import logging
import sys
import time
import traceback
import warnings

import jax
from first_fit import make_fit


class CompileLog(logging.Handler):
    """Counts and seconds of XLA compilations by (program, last two rgfactor frames of the caller)."""

    def __init__(self):
        super().__init__()
        self.count, self.seconds = collections.Counter(), collections.Counter()

    def emit(self, record):
        msg = record.getMessage()
        if not msg.startswith("Finished XLA compilation of"):
            return
        frames = [f for f in traceback.extract_stack() if "/rgfactor/" in f.filename]
        where = " < ".join(f"{f.filename.split('rgfactor/')[-1]}:{f.lineno}:{f.name}" for f in frames[-2:][::-1])
        key = f"{msg.split()[4]} @ {where or '?'}"
        self.count[key] += 1
        self.seconds[key] += float(msg.split(" in ")[-1].split()[0])


def main(argv=None) -> int:
    case = (argv or sys.argv[1:] or ["svc"])[0]
    warnings.simplefilter("ignore")
    fit = make_fit(case)
    log = CompileLog()
    jax.config.update("jax_log_compiles", True)
    for name in ("jax._src.dispatch", "jax._src.interpreters.pxla"):
        logger = logging.getLogger(name)
        logger.addHandler(log)
        logger.propagate = False
    t = time.perf_counter()
    fit(0)
    print(f"{case}: fit {time.perf_counter() - t:.1f} s, {sum(log.count.values())} programs compiled, "
          f"{sum(log.seconds.values()):.1f} s compiling")
    for key, sec in sorted(log.seconds.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{sec:6.2f} s {log.count[key]:4d}  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
