"""The closed-form engine's scaling step on ARD fits of S1: sweeps, ELBO, recovery and time, with and without.

``rgfactor.inference.cavi_scale`` moves each factor's scale between q(Z) and q(W) at the start of every sweep
where the factor prior and the loadings allow it (ARD loadings; not spike-and-slab, the closed-form default).
This benchmark fits S1 (``perf_vs_mofapy2.simulate_s1``: N = 1000, views 2000 / 1000 / 200, K = 10) with
``rgf.GFA(n_factors=10, sparsity="ard")`` in fresh processes, alternating the engine as it is and the engine
with the step left out (``make_plan(scales=False)``), and records, per row: the fresh-process and warm fit
times (end to end: the MultiViewData built, the fit, the factors), the number of sweeps, the final ELBO and the
recovery of the true factors. An untimed process writes 2 GB before each row (see ``perf_vs_mofapy2``).

    python benchmarks/cavi_scale_step.py                     # gaussian, bernoulli3, nb1; two rounds
    python benchmarks/cavi_scale_step.py --variants nb1 --rounds 1

Results: benchmarks/results/cavi_scale_step.{csv,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from perf_vs_mofapy2 import WARMUP_MB, recovery, simulate_s1, to_multiview, touch_memory, write_results


def worker(variant: str, scales: bool) -> dict:
    import functools
    import time
    import warnings

    import numpy as np

    arrays, _, _, z = simulate_s1(variant, 1000, (2000, 1000, 200), 10, 0)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        import rgfactor as rgf
        import rgfactor.inference.cavi as cavi
        from rgfactor.inference.cavi_init import make_plan

        cavi.make_plan = functools.partial(make_plan, scales=scales)
        data = to_multiview(arrays)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = rgf.GFA(n_factors=10, sparsity="ard", random_state=0, progress=False).fit(data)
        zh = model.factors_.sel(subject=list(arrays.subjects)).values
        times.append(time.perf_counter() - t0)
    mean, worst = recovery(z, zh)
    elbo = model.diagnostics_.get("elbo")
    return {"fresh_process_s": round(times[0], 2), "warm_s": round(float(np.median(times[1:])), 2),
            "n_iter": model.diagnostics_.get("n_steps"), "final_elbo": None if elbo is None else round(float(elbo[-1]), 1),
            "recovery_mean": round(mean, 4), "recovery_min": round(worst, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="gaussian,bernoulli3,nb1")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1] == "1")))
        return 0
    import pandas as pd

    rows = []
    for variant in args.variants.split(","):
        for _ in range(args.rounds):
            for scales in (False, True):
                touch_memory(WARMUP_MB)
                res = subprocess.run([sys.executable, __file__, "--worker", variant, str(int(scales))],
                                     capture_output=True, text=True, check=True)
                row = {"variant": variant, "scaling_step": scales, **json.loads(res.stdout.strip().splitlines()[-1])}
                print(row, flush=True)
                rows.append(row)
    header = ("# The scaling step on ARD fits of S1\n\n"
              f"`python benchmarks/cavi_scale_step.py{' '.join([''] + (argv if argv is not None else sys.argv[1:]))}` "
              f"({os.cpu_count()} CPUs). `rgf.GFA(n_factors=10, sparsity='ard').fit(data)` on S1, in fresh processes "
              "alternating the engine without the scaling step (`make_plan(scales=False)`) and with it: "
              "`fresh_process_s` the first fit of the process (compilation included), `warm_s` the median of two more "
              "(end to end: MultiViewData, fit, factors); `n_iter` sweeps to the relative ELBO change 1e-6; "
              "`final_elbo` in nats; recovery: max|corr| to each true factor after Hungarian matching, mean and min. "
              f"An untimed process wrote {WARMUP_MB} MB before each row.\n\n")
    write_results(pd.DataFrame(rows), "cavi_scale_step", header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
