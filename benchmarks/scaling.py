"""Scaling of the CAVI engine on S1 (issue #3): time per sweep and peak memory against N, and the
stochastic variant on N = 100,000 subjects.

    python benchmarks/scaling.py [--sizes 500,1000,2000,4000,16000] [--big 100000] [--quick]

Each size runs in its own process so that peak resident memory (ru_maxrss) is that run's alone.
S1: three Gaussian views of 2000/1000/200 features, K = 10, 30% non-zero loadings. Time per sweep is
the marginal cost: (time of 10 + ``--sweeps`` sweeps - time of 10 sweeps) / ``--sweeps``,
after a compile warm-up (tol = 0, so no early stop). Results:
benchmarks/results/scaling.{csv,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIMS = (2000, 1000, 200)
K = 10


def one_run(n: int, mode: str, sweeps: int, seed: int) -> dict:
    import resource
    import time
    import warnings

    sys.path.insert(0, str(HERE))
    from perf_vs_mofapy2 import recovery, simulate_s1

    from rgfactor.generative.model import config_from_arrays, describe
    from rgfactor.inference.cavi import fit_cavi
    from rgfactor.inference.cavi_stochastic import fit_cavi_stochastic

    arrays, _, _, z = simulate_s1("gaussian", n, DIMS, K, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "cavi":
            model = describe(config_from_arrays(arrays, K, sparsity="ard"))
            fit_cavi(model, arrays, max_iter=2, tol=0.0, num_draws=2)  # compile
            timings = []
            for n_sweeps in (10, 10 + sweeps):  # the difference removes per-fit costs (PCA start, draws)
                t0, c0 = time.perf_counter(), time.process_time()
                res = fit_cavi(model, arrays, max_iter=n_sweeps, tol=0.0, num_draws=2)
                timings.append((time.perf_counter() - t0, time.process_time() - c0))
            wall, cpu = timings[1][0] - timings[0][0], timings[1][1] - timings[0][1]
            steps = sweeps
        else:  # stochastic natural-gradient VI, one epoch of minibatches of 1000 subjects
            t0, c0 = time.perf_counter(), time.process_time()
            res = fit_cavi_stochastic(describe(config_from_arrays(arrays, K, sparsity="ard")), arrays, batch_size=1000,
                                      n_epochs=sweeps, tol=0.0, num_draws=2)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            steps = sweeps * -(-n // 1000)
    rec = recovery(z, res.moments["Z"])
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"mode": mode, "n_subjects": n, "features": sum(DIMS), "K": K, "steps": int(steps),
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "ms_per_step": round(1000 * wall / steps, 2),
            "ns_per_NDK": round(1e9 * wall / steps / (n * sum(DIMS) * K), 3),
            "peak_rss_gb": round(peak_gb, 2), "recovery_mean": round(float(rec[0]), 3),
            "recovery_min": round(float(rec[1]), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="500,1000,2000,4000,16000")
    p.add_argument("--big", type=int, default=100_000, help="N for the stochastic variant (0: skip)")
    p.add_argument("--sweeps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="sizes 500,1000 and big 5000")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        mode, n = a.child.split(":")
        print(json.dumps(one_run(int(n), mode, a.sweeps if mode == "cavi" else 1, a.seed)))  # stochastic: 1 epoch
        return 0
    sizes = [500, 1000] if a.quick else [int(s) for s in a.sizes.split(",")]
    big = 5000 if a.quick else a.big
    jobs = [("cavi", n) for n in sizes] + ([("stochastic", big)] if big else [])
    rows = []
    for mode, n in jobs:
        out = subprocess.run([sys.executable, __file__, "--child", f"{mode}:{n}", "--sweeps", str(a.sweeps),
                              "--seed", str(a.seed)], capture_output=True, text=True, env=os.environ)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from perf_vs_mofapy2 import write_results

    stem = "scaling_quick" if a.quick else "scaling"
    head = (f"# CAVI scaling on S1 (views {'/'.join(map(str, DIMS))}, K={K})\n\n"
            f"{platform.machine()}, {os.cpu_count()} CPUs, jax on CPU. CAVI: marginal time per sweep (fits of "
            f"10 and {10 + a.sweeps} sweeps after a compile warm-up; wall_s is the difference); stochastic: one "
            "epoch of natural-gradient steps on minibatches of 1000 subjects (compile included). ns_per_NDK = "
            "time per step / (N x D x K): flat means linear in N D K. Peak memory is the process's maximum "
            "resident set (data simulation included).\n\n")
    table = write_results(pd.DataFrame(rows), stem, head)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
