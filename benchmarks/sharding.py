"""Subject sharding through the public API (issue #15): full-batch CAVI sweeps with ``devices=P`` on
P forced host devices (``--xla_force_host_platform_device_count``), against one device.

    python benchmarks/sharding.py [--n 10000] [--dims 3000,1500,500] [--k 20] [--devices 1,2] [--sweeps 20]

On this machine the "devices" are slices of the same 2 CPU cores, so the times are CPU figures of the
sharded program (its partitioning and its cross-device sums), not what P accelerators would give.
Time per sweep is the marginal cost: (wall time of a fit of 10 + S sweeps - that of 10 sweeps) / S
with tol = 0, each fit through ``rgf.GFA(n_factors=K, method='cavi', devices=P, ...).fit(data)``,
after a warm-up fit (compilation). Per-device memory is what the layout puts on each device:
the (subject, feature) arrays of its N/P subjects and the replicated per-feature blocks, computed
from the shapes. Each P runs in its own process. Results: benchmarks/results/sharding.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_run(n: int, dims: tuple[int, ...], k: int, p: int, sweeps: int, seed: int) -> dict:
    import warnings

    import jax
    import numpy as np

    import rgfactor as rgf
    from cohort_100k import simulate
    from perf_vs_mofapy2 import recovery

    assert jax.device_count() == p, jax.devices()
    frames, z = simulate(n, dims, k, seed)
    data = rgf.MultiViewData.from_pandas({v: df.astype(np.float64) for v, df in frames.items()},
                                         {v: "gaussian" for v in frames})
    del frames

    def fit(max_iter):
        est = rgf.GFA(n_factors=k, method="cavi", sparsity="ard", devices=p if p > 1 else None, max_iter=max_iter,
                      tol=0.0, num_draws=2, progress=False, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(data)
        return time.perf_counter() - t0, est

    fit(2)   # compile
    t_short, _ = fit(10)
    t_long, est = fit(10 + sweeps)
    rec = recovery(z, np.asarray(est.factors_.values))
    d = sum(dims)
    local = n // p * d * 8 * 2        # y and mask, float64, of the device's subjects
    state = n // p * (k + k * k) * 8  # q(Z): means and covariances
    replicated = d * (k + k * k) * 8  # loadings' means and second moments
    return {"devices": p, "n_subjects": n, "features": d, "K": k, "sweeps": sweeps,
            "ms_per_sweep": round(1000 * (t_long - t_short) / sweeps, 1),
            "fit_10_sweeps_s": round(t_short, 1),
            "per_device_local_gb": round((local + state) / 1024**3, 3),
            "per_device_replicated_mb": round(replicated / 1024**2, 1),
            "allreduce_mb_per_sweep": round((d * k + len(dims) * k * k) * 8 / 1024**2, 2),  # dense path
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
            "recovery_mean": round(rec[0], 3), "recovery_min": round(rec[1], 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--dims", default="3000,1500,500")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--devices", default="1,2")
    p.add_argument("--sweeps", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    dims = tuple(int(d) for d in a.dims.split(","))
    if a.child:
        print(json.dumps(one_run(a.n, dims, a.k, a.child, a.sweeps, a.seed)))
        return 0
    rows = []
    for n_dev in (int(x) for x in a.devices.split(",")):
        env = {**os.environ, "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_dev}"}
        out = subprocess.run([sys.executable, __file__, "--child", str(n_dev), "--n", str(a.n), "--dims", a.dims,
                              "--k", str(a.k), "--sweeps", str(a.sweeps), "--seed", str(a.seed)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    import jax

    cmd = "python benchmarks/sharding.py " + " ".join(sys.argv[1:] if argv is None else argv)
    head = [f"# Subject sharding, full-batch CAVI through the public API (N={a.n:,}, D={sum(dims):,}, K={a.k})\n",
            f"`{cmd}` — {platform.machine()}, {os.cpu_count()} CPUs (shared), jax {jax.__version__}, "
            f"{time.strftime('%Y-%m-%d')}.\n",
            "**CPU figures**: the devices are forced host devices (`--xla_force_host_platform_device_count`) "
            "sharing the same 2 cores, so ms_per_sweep shows the cost of the partitioned program, not the "
            "speed-up of P accelerators. Memory columns are computed from the layout: per device, the "
            "float64 values and mask of its N/P subjects plus q(Z) (local), and the replicated loadings "
            "blocks (means and second moments, D x (K + K^2)); allreduce_mb_per_sweep is the size of the "
            "per-feature sufficient statistics summed across devices in a sweep for these fully observed "
            "Gaussian views (Y'Z, D x K, and Z'Z, K x K per view); views with missing entries or counts take "
            "the generic path, whose sums are D x K and D x K x K (16 MB at D = 5,000, K = 20).\n"]
    table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    table += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows]
    (HERE / "results" / "sharding.md").write_text("\n".join(head + table) + "\n")
    (HERE / "results" / "sharding.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
