"""Benchmarks of integration methods: declared tasks and methods, many fits in parallel on Dask, tidy
results, figures and an HTML page (docs/benchmark.md).

    from rgfactor.benchmark import run_benchmark
    run_benchmark("benchmarks/default.toml", "benchmarks/runs/default")            # LocalCluster, 2 workers
    run_benchmark(cfg, out, scheduler="tcp://10.0.0.5:8786")                      # any Dask scheduler
    run_benchmark(cfg, out, scheduler="serial")                                    # in this process

or ``rgfactor bench CONFIG --out DIR [--scheduler ADDRESS] [--workers N]``. A front door: it may
import any layer; no layer imports it.
"""

from __future__ import annotations

from pathlib import Path

from rgfactor.benchmark.config import BenchmarkConfig, Unit
from rgfactor.benchmark.methods import METHODS, Method, NotApplicable, register

__all__ = ["run_benchmark", "BenchmarkConfig", "Unit", "Method", "NotApplicable", "register", "METHODS"]


def run_benchmark(config, out, *, scheduler: str | None = None, n_workers: int | None = None,
                  data_root: str | None = None, tasks=None, retry_errors: bool = False, progress=None) -> dict:
    """Run a benchmark (resuming from ``<out>/fits.jsonl``) and write its outputs.

    Parameters
    ----------
    config : path of a TOML config, or a BenchmarkConfig.
    out : output folder: fits.jsonl (the log), results.csv, summary.csv/.md, figures/, report.html.
    scheduler : None (LocalCluster), a Dask scheduler address, or 'serial'.
    n_workers : LocalCluster workers (default 2).  data_root : override of the config's data_root.
    tasks : optional list of task names to run now (the others keep what the log has).
    retry_errors : run again the fits logged as failed.
    progress : None, or a callable given one status line (str) per finished fit (the CLI prints them on
        stderr).

    Returns
    -------
    dict with 'info' (units, run now, reused, wall seconds, workers) and 'files' (name -> path).
    """
    from dataclasses import asdict

    from rgfactor.benchmark.outputs import write_outputs
    from rgfactor.benchmark.runner import LOG_NAME, read_log, run_units

    if not isinstance(config, BenchmarkConfig):
        config = BenchmarkConfig.from_toml(config)
    info = run_units(config, out, scheduler=scheduler, n_workers=n_workers, data_root=data_root, tasks=tasks,
                     retry_errors=retry_errors, progress=progress)
    info = {**asdict(info), "n_units": len(config.units(data_root))}
    files = write_outputs(out, config, read_log(Path(out) / LOG_NAME), info)
    return {"info": info, "files": files}
