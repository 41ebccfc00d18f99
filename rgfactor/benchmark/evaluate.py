"""One fit unit, end to end: build the task, fit the method on the training subjects, score the
held-out ones. Runs in a Dask worker (or in-process for a serial run); never raises: a failure is
returned as a row with status 'error' and the error text.

Row columns: task, method, repeat, fold, seed, unit_id, status ('ok' | 'skipped' | 'error'), error,
n_train, n_test, wall_s (fit + every prediction and metric of the unit), fit_s, peak_mb (peak
resident memory of the worker process during the unit, above its level at the start), and the metrics:
recovery_mean / recovery_min (simulations: true vs fitted factors of the training subjects,
:func:`metrics.factor_recovery`), auc / accuracy (classes) or c_index (survival) on the held-out
subjects, and the method's own held-out metrics (``lpd_<view>``, ``coverage90_<view>``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")


def worker_env(threads: int, jax_cache: str | None = None) -> dict:
    """Environment of a worker process: BLAS/OpenMP and XLA (JAX on CPU) limited to ``threads``
    threads, and with ``jax_cache`` a persistent JAX compilation cache shared by the workers (a fit of a
    shape that another worker or an earlier run compiled skips most of XLA's compilation).
    Takes effect only in a process that has not loaded those libraries yet (a fresh worker)."""
    env = {v: str(threads) for v in THREAD_VARS}
    xla = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in xla:
        xla = (xla + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if xla:
        env["XLA_FLAGS"] = xla
    if jax_cache:   # JAX's default thresholds: programs that took >= 1 s to compile (the fits), not every op
        env["JAX_COMPILATION_CACHE_DIR"] = str(jax_cache)
    return env


class PeakMemory:
    """Peak resident memory of this process above its level at entry, sampled every 10 ms (MiB)."""

    def __enter__(self):
        try:
            import psutil
        except ImportError:   # no sampler: report nothing rather than a wrong number
            self.proc = None
            self.peak_mb = np.nan
            return self
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        if self.proc is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.peak_mb = (self.peak - self.start) / 2**20
        return False


def readout(f_train: np.ndarray, f_test: np.ndarray, target, seed: int) -> np.ndarray:
    """The harness's common read-out of factors: class scores from an L2 logistic regression
    (standardised factors, C = 1) or a survival risk from a ridge Cox model (penalty by inner CV)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rgfactor.benchmark.survival import CoxRidge

    if target.kind == "survival":
        return CoxRidge(random_state=seed).fit(f_train, target.time.to_numpy(), target.event.to_numpy()).risk(f_test)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return clf.fit(f_train, target.y.to_numpy()).predict_proba(f_test)


def _score(unit, task, method, train, test, row):
    from rgfactor.benchmark.metrics import classification_scores, factor_recovery, harrell_c

    train_ids, test_ids = list(train.subjects), list(test.subjects)
    t_train, t_test = task.target.subset(train_ids), task.target.subset(test_ids)
    t0 = time.perf_counter()
    method.fit(train, t_train, unit.seed)
    row["fit_s"] = time.perf_counter() - t0
    f_train = method.factors(train)
    if task.truth is not None and f_train is not None:
        row["recovery_mean"], row["recovery_min"] = factor_recovery(task.truth.loc[train_ids].to_numpy(), f_train)
    if t_test.kind is not None:
        scores = method.predict(test)
        if scores is None:
            if f_train is None:
                raise NotImplementedError(f"method '{unit.method['name']}' gives neither predictions nor factors.")
            scores = readout(f_train, method.factors(test), t_train, unit.seed)
        scores = np.asarray(scores, float)
        if t_test.kind == "class":
            if scores.ndim != 2 or scores.shape[1] != len(t_test.classes):
                raise ValueError(f"class scores have shape {scores.shape}; expected (n_test, {len(t_test.classes)}) "
                                 f"for classes {list(t_test.classes)}.")
            row.update(classification_scores(t_test.y.to_numpy(), scores, list(t_test.classes)))
        else:
            row["c_index"] = harrell_c(t_test.time.to_numpy(), t_test.event.to_numpy(), scores)
    if unit.task.get("heldout_metrics", True):
        row.update(method.heldout(test))
    for k, v in getattr(method, "fit_diagnostics_", {}).items():
        row[k] = v


def run_unit(unit, threads: int | None = None, jax_cache: str | None = None) -> dict:
    """Fit and score one unit (module docstring); returns its row, never raises.

    In a fresh worker process the environment of :func:`worker_env` is set before anything loads
    JAX or BLAS; in any process BLAS pools are limited with threadpoolctl during the unit.
    """
    if threads is not None and "jax" not in sys.modules:
        os.environ.update(worker_env(threads, jax_cache))
    from threadpoolctl import threadpool_limits

    from rgfactor.benchmark.methods import NotApplicable, method_class
    from rgfactor.benchmark.tasks import build_task
    import rgfactor.benchmark.rgf_methods  # noqa: F401  (registers the rgfactor adapters)
    import rgfactor.benchmark.mofa  # noqa: F401

    row = {**unit.key, "seed": unit.seed, "unit_id": unit.id, "status": "ok", "error": ""}
    mem, t0 = None, None
    try:   # the task (data, split) is built outside the timing: it is the harness's cost, not the method's
        task = build_task(unit.task, unit.data_seed, unit.data_root)
        train_ids, test_ids = task.splits[unit.fold]
        train, test = task.data.subset(train_ids), task.data.subset(test_ids)
        row["n_train"], row["n_test"] = len(train_ids), len(test_ids)
        method = method_class(unit.method["kind"])(**unit.method.get("params", {}))
        with PeakMemory() as mem, threadpool_limits(limits=threads):
            t0 = time.perf_counter()
            _score(unit, task, method, train, test, row)
    except NotApplicable as e:
        row.update(status="skipped", error=str(e))
    except Exception as e:  # noqa: BLE001  a failed fit is a result, recorded with its error
        last = traceback.extract_tb(e.__traceback__)[-1]
        row.update(status="error", error=f"{type(e).__name__}: {e} ({os.path.basename(last.filename)}:{last.lineno})")
    row["wall_s"] = np.nan if t0 is None else time.perf_counter() - t0
    row["peak_mb"] = np.nan if mem is None else mem.peak_mb
    return row
