"""The closed-form sweep of S1 alone: its tracing and lowering, its XLA compilation and one sweep's run time.

A component figure behind the end-to-end ones of ``perf_vs_mofapy2.py``: a fit in a fresh process waits for
the first sweep's compilation (overlapped with the PCA start and the posterior layer's imports) and then for
the sweeps. The sweep is compiled with the options the engine itself chooses (``cavi_sweep.make_step``).

    python benchmarks/sweep_compile.py nb1        # or gaussian, bernoulli3
    python benchmarks/sweep_compile.py nb1 --dims 2000         # S1's first view alone (or 2000,1200: two views)
    PYTHONPATH=<other tree> python <other tree>/benchmarks/sweep_compile.py nb1   # the same for other code

``--dims``: the views' numbers of features (default S1's 2000,1000,200), to see what each view adds to the
compilation (a view's updates, ELBO terms and special functions are compiled once per view).

Prints one JSON line: lower_s, compile_s (this process's first and only compilation of the sweep), and the
median of 9 sweeps in ms (a regular sweep; NB: every third updates the dispersion, reported apart).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import warnings

from perf_vs_mofapy2 import simulate_s1


class _Captured(Exception):
    """Stops the fit once the engine's inputs are captured."""


def main(variant: str, dims: tuple[int, ...] = (2000, 1000, 200)) -> dict:
    import jax
    import numpy as np

    import rgfactor as rgf
    import rgfactor.inference.cavi as cavi
    from perf_vs_mofapy2 import to_multiview
    from rgfactor.inference.cavi_sweep import QUICK_COMPILE_WORK, _step, sweep_work
    from rgfactor.inference.compile_options import QUICK_COMPILE, without_validation

    arrays, *_ = simulate_s1(variant, 1000, dims, 10, 0)
    captured = {}
    real = cavi.fit_cavi

    def capture(model, model_arrays, **kw):   # the engine's model, plan and data; no sweep is run
        plan = cavi.make_plan(model, model_arrays)
        with jax.enable_x64(True):
            captured.update(model=model, plan=plan, arrays=model_arrays,
                            data=cavi.prepare_data(model, plan, model_arrays),
                            state=cavi.init_state(model, plan, model_arrays, 0))
        raise _Captured

    cavi.fit_cavi = capture
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rgf.GFA(n_factors=10, random_state=0, progress=False).fit(to_multiview(arrays))
    except _Captured:
        pass
    finally:
        cavi.fit_cavi = real
    model, plan, a = captured["model"], captured["plan"], captured["arrays"]
    quick = sweep_work(plan, a.n_subjects, [v.n_features for v in a.views], model.n_factors) < QUICK_COMPILE_WORK
    with jax.enable_x64(True):
        fn = jax.jit(without_validation(functools.partial(_step, model, plan)),
                     compiler_options=QUICK_COMPILE if quick else None)
        t0 = time.perf_counter()
        lowered = fn.lower(captured["state"], captured["data"])
        t1 = time.perf_counter()
        step = lowered.compile()
        t2 = time.perf_counter()
        state, times = captured["state"], []
        for _ in range(9):
            t = time.perf_counter()
            state, elbo = step(state, captured["data"])
            jax.block_until_ready(elbo)
            times.append(1000 * (time.perf_counter() - t))
    regular = [t for i, t in enumerate(times) if variant != "nb1" or i % 3]
    out = {"variant": variant, "dims": list(dims), "quick_compile": quick, "lower_s": round(t1 - t0, 2),
           "compile_s": round(t2 - t1, 2), "sweep_ms": round(float(np.median(regular)), 1)}
    if variant == "nb1":
        out["dispersion_sweep_ms"] = round(float(np.median(times[::3])), 1)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", nargs="?", default="nb1", choices=["gaussian", "bernoulli3", "nb1"])
    ap.add_argument("--dims", default="2000,1000,200", help="features per view, comma-separated")
    args = ap.parse_args()
    dims = tuple(int(d) for d in args.dims.split(","))
    if args.variant == "bernoulli3" and len(dims) < 3:
        ap.error("bernoulli3 makes the third view binary: give at least three views")
    print(json.dumps(main(args.variant, dims)))
