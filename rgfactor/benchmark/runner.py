"""Run a benchmark's units on Dask (``dask.distributed``) or in-process, appending each result as it
finishes so that an interrupted run resumes where it stopped.

The log ``<out>/fits.jsonl`` holds one JSON object per finished unit, written with one ``write`` and
flushed to disk as the unit finishes; a run reads it first and skips every unit whose id is there (a
torn last line of a killed run is ignored and its unit redone). JSON Lines rather than CSV because a
line is a whole fit (the unit of resumption) and methods report different metric columns; the tidy
``results.csv`` is written from the log at the end of every run.

Parallelism: a LocalCluster of ``n_workers`` single-threaded worker processes by default, whose
environment limits BLAS/OpenMP/XLA threads and shares a JAX compilation cache (``<out>/.jax_cache``,
:func:`evaluate.worker_env`) before JAX loads; or any
running scheduler (``scheduler="tcp://host:8786"``), whose workers get the same limits when a unit
is the first thing they import JAX for; or ``scheduler="serial"`` (this process, no Dask; BLAS pools
limited with threadpoolctl, the process environment untouched). A unit
whose worker dies is recorded as an error row, never lost.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from rgfactor.benchmark.config import BenchmarkConfig
from rgfactor.benchmark.evaluate import run_unit, worker_env
from rgfactor.errors import RGFactorError

LOG_NAME = "fits.jsonl"


def _json_safe(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def read_log(path: Path) -> list[dict]:
    """The rows of a log; a torn (unparsable) last line is dropped, a torn line elsewhere raises.

    Raises
    ------
    RGFactorError  naming the line when a line other than the last is not JSON.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                break
            raise RGFactorError(f"benchmark log '{path}' line {i + 1} is not JSON ({e}); remove that line to "
                                "redo its fit.") from e
    return rows


class ResultLog:
    """Append-only log of finished units (module docstring)."""

    def __init__(self, path: Path, retry_errors: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = read_log(self.path)
        self.done = {r["unit_id"] for r in rows if not (retry_errors and r.get("status") == "error")}
        if self.path.exists():   # cut a torn last line so that appends start on a fresh line
            text = self.path.read_text()
            keep = "".join(line + "\n" for line in text.splitlines() if _parses(line))
            if keep != text:
                self.path.write_text(keep)

    def append(self, row: dict) -> None:
        import os

        with self.path.open("a") as f:
            f.write(json.dumps(_json_safe(row), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.add(row["unit_id"])


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


@dataclass
class RunInfo:
    """What a run did: units in the config, units run now, units already in the log, wall seconds."""

    n_units: int
    n_run: int
    n_reused: int
    wall_s: float
    workers: int | str


def _lost_row(unit, exc: BaseException) -> dict:
    return {**unit.key, "seed": unit.seed, "unit_id": unit.id, "status": "error",
            "error": f"worker lost: {type(exc).__name__}: {exc}", "wall_s": None, "peak_mb": None}


def _progress_line(i: int, n: int, row: dict) -> str:
    """The status line of a finished fit (given to ``run_units``'s ``progress`` callback)."""
    return (f"[{i + 1}/{n}] {row['task']} | {row['method']} | r{row['repeat']} f{row['fold']}: {row['status']} "
            f"{row.get('wall_s') or 0:.1f} s")


def run_units(config: BenchmarkConfig, out, *, scheduler: str | None = None, n_workers: int | None = None,
              data_root: str | None = None, tasks=None, retry_errors: bool = False,
              progress=None) -> RunInfo:
    """Run every unit of ``config`` not yet in ``<out>/fits.jsonl``; append each row as it finishes.

    Parameters
    ----------
    scheduler : None (a LocalCluster of ``n_workers`` processes, default 2), a scheduler address
        ('tcp://...'), or 'serial' (this process, in order).
    n_workers : LocalCluster size.  data_root : override of the config's data_root.
    tasks : optional task names: run only their units now.
    retry_errors : run again the units logged with status 'error' (the new row supersedes the old).
    progress : None, or a callable given one status line (str) per finished fit.

    Raises
    ------
    RGFactorError  if Dask is needed but not installed (it is in the 'bench' extra).
    """
    log = ResultLog(Path(out) / LOG_NAME, retry_errors)
    units = [u for u in config.units(data_root) if tasks is None or u.task["name"] in set(tasks)]
    pending = [u for u in units if u.id not in log.done]
    t0 = time.perf_counter()
    threads = config.threads_per_worker
    cache = str((Path(out) / ".jax_cache").resolve()) if config.jax_cache else None
    if scheduler == "serial":   # this process: its environment is the user's, left as it is
        from threadpoolctl import threadpool_limits

        for i, u in enumerate(pending):
            with threadpool_limits(limits=threads):
                row = run_unit(u)
            log.append(row)
            if progress is not None:
                progress(_progress_line(i, len(pending), row))
        return RunInfo(len(units), len(pending), len(units) - len(pending), time.perf_counter() - t0, "serial")
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:
        raise RGFactorError("parallel benchmarks need Dask: pip install 'rgfactor[bench]' (or run with "
                            "scheduler='serial').") from e
    cluster = None
    if scheduler is None:
        n_workers = n_workers or 2
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=worker_env(threads, cache),
                               dashboard_address=":0")
    client = Client(cluster if cluster is not None else scheduler)
    workers = n_workers if cluster is not None else scheduler
    try:
        futures = {client.submit(run_unit, u, threads, cache, key=f"rgfactor-bench-{u.id}", pure=False, retries=0): u
                   for u in pending}
        for i, fut in enumerate(as_completed(futures)):
            u = futures[fut]
            try:
                row = fut.result()
            except Exception as e:  # noqa: BLE001  worker died (KilledWorker, ...): record, never lose
                row = _lost_row(u, e)
            log.append(row)
            if progress is not None:
                progress(_progress_line(i, len(pending), row))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return RunInfo(len(units), len(pending), len(units) - len(pending), time.perf_counter() - t0, workers)
