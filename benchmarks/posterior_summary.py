"""Posterior summaries of the main job (models/lgg_radiogenomics.toml, default engine): how long
``az.summary`` and ``rgfactor.summary`` take on the fitted InferenceData, whether ArviZ warns or logs,
and how long the report takes to write.

    python benchmarks/posterior_summary.py [--quick]

Fits the model once (the spec's settings; ``--quick``: its [quick] ones), then times, on that fit:
``az.summary(model.idata_)`` (every variable; warnings and ArviZ log records counted),
``az.summary`` of the factors and ARD precisions only, ``rgfactor.summary(model)``, and
``rgfactor.reporting.write_model_report``. Writes benchmarks/results/posterior_summary.{csv,md}
(``--quick``: posterior_summary_quick.*).
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import rgfactor as rgf
from rgfactor.reporting import write_model_report
from rgfactor.sources import load_source
from rgfactor.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent


class Count(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def timed(fn):
    """(seconds, result, n warnings, n log records at INFO or above) of ``fn()``."""
    handler = Count()
    logging.getLogger().addHandler(handler)
    logging.getLogger("arviz").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("arviz").removeHandler(handler)
    return dt, out, len(caught), len([r for r in handler.records if r.levelno >= logging.INFO])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    spec = ModelSpec.from_toml(ROOT / "models" / "lgg_radiogenomics.toml")
    if args.quick:
        spec = spec.with_quick()
    data, labels = load_source(spec.data["source"], dict(spec.data.get("options", {})), spec.data_path(ROOT))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = rgf.GFA(**spec.estimator_params()).fit(data)
        fit_s = time.perf_counter() - t0
    post = model.idata_.posterior
    n_scalars = int(sum(np.prod(v.shape[2:]) for v in post.data_vars.values()))
    rows = [{"step": "fit", "seconds": fit_s, "warnings": np.nan, "log_records": np.nan, "rows": np.nan}]
    cases = [("az.summary(model.idata_)", lambda: az.summary(model.idata_)),
             ("az.summary(model.idata_, var_names=['Z', 'alpha_*'])",
              lambda: az.summary(model.idata_, var_names=["Z", "alpha_"], filter_vars="like")),
             ("rgfactor.summary(model)", lambda: rgf.summary(model))]
    for name, fn in cases:
        dt, tab, n_warn, n_log = timed(fn)
        rows.append({"step": name, "seconds": dt, "warnings": n_warn, "log_records": n_log, "rows": len(tab)})
    with tempfile.TemporaryDirectory() as tmp:
        dt, _, n_warn, n_log = timed(lambda: write_model_report(
            Path(tmp) / "run", model, data, labels[spec.report["labels"]], title=spec.name,
            level_names=spec.report.get("levels")))
    rows.append({"step": "write_model_report", "seconds": dt, "warnings": n_warn, "log_records": n_log,
                 "rows": np.nan})
    df = pd.DataFrame(rows)
    stem = "posterior_summary_quick" if args.quick else "posterior_summary"
    out = ROOT / "benchmarks" / "results"
    df.to_csv(out / f"{stem}.csv", index=False)
    head = (f"# Posterior summaries of {spec.name}{' (--quick)' if args.quick else ''}\n\n"
            f"Engine {model.diagnostics_['method']}, posterior {dict(post.sizes)} ({n_scalars} scalar parameters), "
            f"attrs method={post.attrs.get('method')!r}, inference_library={post.attrs.get('inference_library')!r}. "
            f"Machine: {platform.processor() or platform.machine()}, shared; seconds are wall-clock.\n\n"
            f"Command: `python benchmarks/posterior_summary.py{' --quick' if args.quick else ''}`\n\n")
    lines = ["| step | seconds | warnings | ArviZ log records | rows |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [r["step"], f"{r['seconds']:.2f}"] + ["" if pd.isna(r[k]) else str(int(r[k]))
                                                     for k in ("warnings", "log_records", "rows")]
        lines.append("| " + " | ".join(cells) + " |")
    (out / f"{stem}.md").write_text(head + "\n".join(lines) + "\n")
    print(head + df.to_string(index=False))


if __name__ == "__main__":
    main()
