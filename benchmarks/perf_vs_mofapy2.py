"""Speed and factor recovery: rgfactor CAVI vs mofapy2 (MOFA+) on the S1 simulation.

S1: N = 1000 subjects, three views of 2000 / 1000 / 200 Gaussian features, K = 10 true factors,
30% non-zero loadings, each factor active in a random non-empty subset of views, noise sd 1.
Variants: ``gaussian``; ``bernoulli3`` (third view Bernoulli); ``nb1`` (first view NB counts,
dispersion 5, size factors; mofapy2 has no NB likelihood and gets log1p(normalised counts) as a
Gaussian view, the usual MOFA practice). Both tools fit K = 10 with spike-and-slab + ARD, in the same
process and with the same thread settings (``--threads``, default 1 as in docs ANCHORS.md).

Recovery: for each true factor, max |corr| with a fitted factor after Hungarian matching;
reported as mean and min over the true factors.

    python benchmarks/perf_vs_mofapy2.py            # full S1 (several minutes)
    python benchmarks/perf_vs_mofapy2.py --quick    # N=300, views 400/200/50, K=5

Writes benchmarks/results/perf_vs_mofapy2.csv and .md (``--quick``: *_quick.csv / .md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def simulate_s1(variant: str, n: int, dims: tuple[int, ...], k: int, seed: int):
    """ModelArrays (rgfactor), raw matrices + likelihoods (mofapy2) and the true Z."""
    import numpy as np
    from scipy.special import expit

    from rgfactor.data.arrays import ModelArrays, ViewArrays

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    active = rng.random((len(dims), k)) < 0.5
    for j in range(k):   # each factor active in at least one view
        if not active[:, j].any():
            active[rng.integers(len(dims)), j] = True
    liks = ["gaussian"] * len(dims)
    if variant == "bernoulli3":
        liks[2] = "bernoulli"
    if variant == "nb1":
        liks[0] = "negative_binomial"
    views, mofa_views, mofa_liks = [], [], []
    for m, d in enumerate(dims):
        w = rng.standard_normal((d, k)) * (rng.random((d, k)) < 0.3) * active[m][None, :]
        off = np.zeros(n)
        if liks[m] == "gaussian":
            y = z @ w.T + rng.normal(0, 1, d) + rng.standard_normal((n, d))
            centre, scale = y.mean(axis=0), y.std(axis=0)
            mofa_y, mofa_lik = y, "gaussian"
        elif liks[m] == "bernoulli":
            y = (rng.random((n, d)) < expit(z @ w.T + rng.normal(0, 0.5, d))).astype(float)
            f = np.clip(y.mean(axis=0), 0.01, 0.99)
            centre, scale = np.log(f / (1 - f)), np.ones(d)
            mofa_y, mofa_lik = y, "bernoulli"
        else:
            off = rng.normal(0, 0.3, n)
            mu = np.exp(0.5 * z @ w.T + rng.normal(1.5, 0.5, d) + off[:, None])
            y = rng.negative_binomial(5.0, 5.0 / (5.0 + mu)).astype(float)
            norm = y / np.exp(off)[:, None]
            centre, scale = np.log(norm.mean(axis=0) + 0.1), np.ones(d)
            mofa_y, mofa_lik = np.log1p(norm), "gaussian"
        views.append(ViewArrays(name=f"view{m + 1}", likelihood=liks[m], y=y, mask=np.ones_like(y, bool),
                                log_offset=off, centre=centre, scale=scale,
                                features=tuple(f"f{j}" for j in range(d))))
        mofa_views.append(mofa_y)
        mofa_liks.append(mofa_lik)
    arrays = ModelArrays(views=tuple(views), subjects=tuple(f"s{i}" for i in range(n)))
    return arrays, mofa_views, mofa_liks, z


def recovery(z_true, z_hat):
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    k = z_true.shape[1]
    if z_hat.shape[1] < k:   # dropped factors count as not recovered
        z_hat = np.concatenate([z_hat, np.zeros((z_hat.shape[0], k - z_hat.shape[1]))], axis=1)
    ok = z_hat.std(axis=0) > 1e-12
    c = np.zeros((k, z_hat.shape[1]))
    c[:, ok] = np.abs(np.corrcoef(z_true.T, z_hat[:, ok].T)[:k, k:])
    r, cc = linear_sum_assignment(-c)
    return float(c[r, cc].mean()), float(c[r, cc].min())


def run_cavi(arrays, k, seed, sparsity):
    """sparsity 'spike_and_slab' / 'ard': fit_cavi; 'svi': fit_cavi_stochastic (ARD, batches of N/4)."""
    import time
    import warnings

    from rgfactor.generative.model import config_from_arrays, describe
    from rgfactor.inference.cavi import fit_cavi
    from rgfactor.inference.cavi_stochastic import fit_cavi_stochastic

    model = describe(config_from_arrays(arrays, k, sparsity="ard" if sparsity == "svi" else sparsity))
    if sparsity == "svi":
        batch = arrays.n_subjects // 4
        fit = lambda **kw: fit_cavi_stochastic(model, arrays, batch_size=batch,  # noqa: E731
                                               n_epochs=kw.pop("max_iter", 100), **kw)
    else:
        fit = lambda **kw: fit_cavi(model, arrays, **kw)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(max_iter=2, num_draws=1)   # compile outside the timing
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        res = fit(num_draws=1, random_state=seed)
        wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return res.moments["Z"], res.n_iter, wall, cpu


def run_mofa(views, liks, k, seed, mode):
    import contextlib
    import io
    import time

    from mofapy2.run.entry_point import entry_point

    with contextlib.redirect_stdout(io.StringIO()):
        ent = entry_point()
        ent.set_data_options(scale_views=False, center_groups=True)
        ent.set_data_matrix([[y] for y in views], likelihoods=liks)
        ent.set_model_options(factors=k, spikeslab_weights=True, ard_weights=True)
        ent.set_train_options(iter=5000, convergence_mode=mode, seed=seed, verbose=False, quiet=True)
        ent.build()
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        ent.run()
        wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    z = ent.model.nodes["Z"].getExpectation()
    n_iter = len([e for e in ent.model.getTrainingStats()["elbo"] if e == e])
    return z, n_iter, wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small problem (N=300, views 400/200/50, K=5)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="gaussian,bernoulli3,nb1")
    ap.add_argument("--no-mofa", action="store_true")
    args = ap.parse_args(argv)
    _set_threads(args.threads)

    import platform
    from pathlib import Path

    import pandas as pd

    n, dims, k = (300, (400, 200, 50), 5) if args.quick else (1000, (2000, 1000, 200), 10)
    methods = [("rgfactor cavi", "spike_and_slab"), ("rgfactor cavi-ard", "ard"), ("rgfactor svi-ard", "svi")]
    if not args.no_mofa:
        try:
            import mofapy2  # noqa: F401
            methods += [("mofapy2 fast", "fast"), ("mofapy2 medium", "medium")]
        except ImportError:
            print("mofapy2 not installed: pip install mofapy2", file=sys.stderr)
    rows = []
    for variant in args.variants.split(","):
        arrays, mviews, mliks, z = simulate_s1(variant, n, dims, k, args.seed)
        for name, opt in methods:
            if name.startswith("rgfactor"):
                zh, it, wall, cpu = run_cavi(arrays, k, args.seed, opt)
            else:
                zh, it, wall, cpu = run_mofa(mviews, mliks, k, args.seed, opt)
            mean, worst = recovery(z, zh)
            row = dict(variant=variant, method=name, n_iter=it, wall_s=round(wall, 2), cpu_s=round(cpu, 2),
                       ms_per_iter=round(1000 * wall / max(it, 1), 1),
                       recovery_mean=round(mean, 3), recovery_min=round(worst, 3))
            print(row, flush=True)
            rows.append(row)
    stem = "perf_vs_mofapy2_quick" if args.quick else "perf_vs_mofapy2"
    header = (f"# rgfactor CAVI vs mofapy2 ({'quick' if args.quick else 'S1'})\n\n"
              f"N={n}, views {'/'.join(map(str, dims))}, K={k}, seed {args.seed}, threads {args.threads}, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs: "
              f"compare within a run). Wall/CPU exclude JAX compilation (a separate warm-up fit) but "
              f"include data preparation, the PCA start and the draws; ms_per_iter = wall / n_iter "
              f"(for svi-ard, n_iter counts minibatch steps of N/4 subjects, 100 epochs at most). Recovery: max|corr| to each true factor after "
              f"Hungarian matching, mean and min.\n\n")
    write_results(pd.DataFrame(rows), stem, header)
    return 0


def write_results(df, stem: str, header: str) -> str:
    """Write ``df`` to benchmarks/results/STEM.csv and, under ``header``, as a Markdown table to STEM.md."""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    df.to_csv(out / f"{stem}.csv", index=False)
    table = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    table += ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    text = "\n".join(table) + "\n"
    (out / f"{stem}.md").write_text(header + text)
    return text


if __name__ == "__main__":
    sys.exit(main())
