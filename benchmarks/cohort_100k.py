"""A UK-Biobank-sized imaging cohort through the public API (issue #15): N = 100,000 subjects x
5,000 features x K = 20, fitted by natural-gradient stochastic VI (``batch_size=``).

    python benchmarks/cohort_100k.py [--n 100000] [--dims 3000,1500,500] [--k 20] [--batch-size 2000]
                                     [--epochs 3] [--out cohort_100k]

What is timed is what a user runs: ``MultiViewData.from_pandas(frames, ...)`` then
``rgf.GFA(n_factors=K, batch_size=B, max_iter=E).fit(data)`` (validation, preprocessing, the arrays
handed to JAX, the PCA start, E epochs, the posterior). The simulated frames are float32 and built
in blocks of subjects, so that simulating does not dominate memory: three Gaussian views, K factors
each active in about half the views, 30% non-zero loadings, unit noise.

Memory is the process's resident set (RSS), sampled every 20 ms by a thread; the table gives, per
stage of the fit (each public-API step the fit runs, found by wrapping the functions it calls), RSS
on entry, the peak inside and RSS on exit. Results: benchmarks/results/<out>.{md,json}.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GB = 1024**3


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Sampler(threading.Thread):
    """Samples RSS every ``dt`` seconds; ``peak`` is the maximum since the last ``reset``."""

    def __init__(self, dt: float = 0.02, limit_gb: float | None = None):
        super().__init__(daemon=True)
        self.dt, self.peak, self.alltime, self.stop = dt, rss(), rss(), False
        self.limit = None if limit_gb is None else limit_gb * GB
        self.log: list = []

    def reset(self) -> int:
        self.peak = rss()
        return self.peak

    def run(self):
        while not self.stop:
            r = rss()
            self.peak, self.alltime = max(self.peak, r), max(self.alltime, r)
            if self.limit is not None and r > self.limit:   # the machine is shared: stop before it swaps
                print(f"RSS {r / GB:.2f} GB over --max-rss-gb; stages so far: {self.log}", flush=True)
                os._exit(3)
            time.sleep(self.dt)


def simulate(n: int, dims: tuple[int, ...], k: int, seed: int, block: int = 10_000):
    """Float32 views as DataFrames (subject x feature) and the true factors (n, k), in blocks of subjects."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k), dtype=np.float32)
    active = rng.random((len(dims), k)) < 0.5
    for j in range(k):   # each factor active in at least one view
        if not active[:, j].any():
            active[rng.integers(len(dims)), j] = True
    subjects = pd.Index([f"s{i}" for i in range(n)], name="subject")
    frames = {}
    for m, d in enumerate(dims):
        w = (rng.standard_normal((d, k)) * (rng.random((d, k)) < 0.3) * active[m][None, :]).astype(np.float32)
        mean = rng.normal(0, 1, d).astype(np.float32)
        y = np.empty((n, d), dtype=np.float32)
        for a in range(0, n, block):
            b = min(a + block, n)
            y[a:b] = z[a:b] @ w.T + mean + rng.standard_normal((b - a, d), dtype=np.float32)
        frames[f"view{m + 1}"] = pd.DataFrame(y, index=subjects, columns=[f"v{m + 1}_f{j}" for j in range(d)],
                                              copy=False)
    return frames, z


STAGES = [  # (label, module, attribute): the functions the public fit calls, in order
    ("validation (from_pandas)", "rgfactor.data.multiview", "MultiViewData.from_pandas"),
    ("preprocessing fit", "rgfactor.data.multiview", "MultiViewData.fit_preprocessing"),
    ("preprocessing apply (to_arrays)", "rgfactor.data.multiview", "MultiViewData.to_arrays"),
    ("model data (host arrays, variance explained)", "rgfactor.estimators.base", "model_data"),
    ("engine: device arrays", "rgfactor.inference.cavi_stochastic", "prepare_data"),
    ("engine: PCA start", "rgfactor.inference.cavi_stochastic", "init_state"),
    ("engine: draws from q", "rgfactor.inference.cavi_stochastic", "posterior_draws"),
    ("engine total (incl. epochs)", "rgfactor.estimators.base", "run_engine"),
    ("posterior (InferenceData)", "rgfactor.estimators.base", "build_posterior"),
]


def instrument(sampler: Sampler, log: list):
    """Wrap each stage's function so that it logs (label, seconds, RSS in, peak inside, RSS out).
    Nested stages (the engine's parts inside run_engine) each get their own row."""
    import importlib

    def wrap(label, fn, is_classmethod):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            r0, t0 = rss(), time.perf_counter()
            outer_peak = sampler.peak
            sampler.reset()
            out = fn(*args, **kwargs)
            peak = max(sampler.peak, rss())
            log.append({"stage": label, "s": round(time.perf_counter() - t0, 2), "rss_in_gb": round(r0 / GB, 2),
                        "peak_gb": round(peak / GB, 2), "rss_out_gb": round(rss() / GB, 2)})
            sampler.peak = max(outer_peak, peak)
            return out
        return classmethod(lambda cls, *a, **kw: inner(*a, **kw)) if is_classmethod else inner

    for label, mod, attr in STAGES:
        module = importlib.import_module(mod)
        if "." in attr:
            cls_name, meth = attr.split(".")
            cls = getattr(module, cls_name)
            raw = cls.__dict__[meth]
            if isinstance(raw, classmethod):
                setattr(cls, meth, wrap(label, raw.__get__(None, cls), True))
            else:
                setattr(cls, meth, wrap(label, raw, False))
        else:
            setattr(module, attr, wrap(label, getattr(module, attr), False))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dims", default="3000,1500,500")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--num-draws", type=int, default=None, help="posterior draws (default: the estimator's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rss-gb", type=float, default=None, help="abort when the process exceeds this")
    p.add_argument("--out", default=None, help="results stem in benchmarks/results (default: none written)")
    a = p.parse_args(argv)
    dims = tuple(int(d) for d in a.dims.split(","))

    import warnings

    import numpy as np

    sampler = Sampler(limit_gb=a.max_rss_gb)
    sampler.start()
    t_start = time.perf_counter()
    import rgfactor as rgf
    from perf_vs_mofapy2 import recovery

    t_import = time.perf_counter() - t_start
    log: list = sampler.log
    instrument(sampler, log)
    t0 = time.perf_counter()
    frames, z_true = simulate(a.n, dims, a.k, a.seed)
    t_sim, rss_sim = time.perf_counter() - t0, rss()
    log.append({"stage": "simulated frames (float32, held by the user)", "s": round(t_sim, 2), "rss_in_gb": None,
                "peak_gb": round(sampler.peak / GB, 2), "rss_out_gb": round(rss_sim / GB, 2)})
    t0 = time.perf_counter()
    data = rgf.MultiViewData.from_pandas(frames, {v: "gaussian" for v in frames})
    est = rgf.GFA(n_factors=a.k, batch_size=a.batch_size, max_iter=a.epochs, num_draws=a.num_draws,
                  progress=False, random_state=a.seed)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data)
    t_fit = time.perf_counter() - t1
    t_total = time.perf_counter() - t0
    z_hat = np.asarray(est.factors_.values)
    rec_mean, rec_min = recovery(z_true, z_hat)
    sampler.stop = True
    steps = int(est.diagnostics_["n_steps"])
    epochs = steps / -(-a.n // a.batch_size)
    engine = next(r for r in log if r["stage"].startswith("engine total"))
    parts = sum(r["s"] for r in log if r["stage"].startswith("engine:"))
    row = {"n_subjects": a.n, "features": sum(dims), "views": "/".join(map(str, dims)), "K": a.k,
           "batch_size": a.batch_size, "epochs": round(epochs, 2), "steps": steps,
           "s_per_epoch": round((engine["s"] - parts) / epochs, 1), "fit_s": round(t_fit, 1),
           "data_plus_fit_s": round(t_total, 1), "simulate_s": round(t_sim, 1), "import_s": round(t_import, 1),
           "peak_rss_gb": round(max(sampler.alltime, rss()) / GB, 2), "frames_gb": round(rss_sim / GB, 2),
           "recovery_mean": round(rec_mean, 3), "recovery_min": round(rec_min, 3)}
    print(json.dumps(row))
    for r in log:
        print(r)
    if a.out:
        import jax

        res = HERE / "results"
        (res / f"{a.out}.json").write_text(json.dumps({"summary": row, "stages": log}, indent=1) + "\n")
        cmd = "python benchmarks/cohort_100k.py " + " ".join(sys.argv[1:] if argv is None else argv)
        lines = [f"# {a.n:,} subjects x {sum(dims):,} features x K = {a.k} through the public API\n",
                 f"`{cmd}` — {platform.machine()}, {os.cpu_count()} CPUs (shared), jax {jax.__version__} on "
                 f"{jax.default_backend().upper()}, {time.strftime('%Y-%m-%d')}.\n",
                 "`MultiViewData.from_pandas` of float32 frames, then "
                 f"`rgf.GFA(n_factors={a.k}, batch_size={a.batch_size}, max_iter={a.epochs}).fit(data)`: "
                 "natural-gradient stochastic VI, max_iter = epochs. s_per_epoch: the engine's time less its "
                 "start (device arrays, PCA) and draws, per epoch (compilation included). data_plus_fit_s: "
                 "from_pandas + fit. peak_rss_gb: the process's maximum resident set, the user's frames "
                 f"({row['frames_gb']} GB with the interpreter and JAX) included. Recovery: |corr| of true "
                 "and fitted factors after matching (Hungarian).\n",
                 "| " + " | ".join(row) + " |", "|" + "---|" * len(row),
                 "| " + " | ".join(str(v) for v in row.values()) + " |", "",
                 "## Memory and time by stage\n",
                 "RSS sampled every 20 ms. Nested rows (engine: ...) lie inside 'engine total'.\n",
                 "| stage | s | rss_in_gb | peak_gb | rss_out_gb |", "|---|---|---|---|---|"]
        lines += [f"| {r['stage']} | {r['s']} | {r['rss_in_gb']} | {r['peak_gb']} | {r['rss_out_gb']} |" for r in log]
        (res / f"{a.out}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
