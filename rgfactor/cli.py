"""The ``rgfactor`` command line: ``rgfactor fit [SPEC] --out runs/NAME``, ``rgfactor bench CONFIG --out DIR``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd

from rgfactor.errors import RGFactorError

ENV_DATA_ROOT = "RGFACTOR_DATA_ROOT"


def _default_spec() -> Path:
    return Path(str(resources.files("rgfactor") / "models" / "demo.toml"))


def _project_root(spec_path: Path) -> Path:
    """The project root a spec's relative data root is resolved against: the parent of its models/ folder."""
    spec_path = spec_path.resolve()
    return spec_path.parent.parent if spec_path.parent.name == "models" else Path.cwd()


def top_loadings(loadings: dict, n: int = 10) -> pd.DataFrame:
    """The ``n`` largest-|w| features of each view and factor (long table)."""
    rows = []
    for view, w in loadings.items():
        vals = w.to_pandas()
        for factor in vals.columns:
            col = vals[factor]
            for feat in col.abs().sort_values(ascending=False).index[:n]:
                rows.append({"view": view, "factor": factor, "feature": feat, "loading": float(col[feat])})
    return pd.DataFrame(rows)


def canonical_table(model) -> pd.DataFrame:
    """PCCA: posterior mean and 94% HDI of the canonical correlations of every pair of views (long table)."""
    views = list(model.config_.view_names)
    parts = []
    for i, v1 in enumerate(views):
        for v2 in views[i + 1:]:
            tab = model.canonical_correlations(v1, v2, summary=True)
            tab.insert(0, "view2", v2)
            tab.insert(0, "view1", v1)
            parts.append(tab)
    return pd.concat(parts, ignore_index=True)


def run_fit(spec_path: Path | None, out: Path | None, *, data_root: str | None, quick: bool, method: str | None,
            progress: bool) -> Path:
    """Fit a spec and write its run directory (see ARCHITECTURE.md, "What a run writes")."""
    import rgfactor
    from rgfactor import estimators
    from rgfactor.sources import PATHLESS, load_source
    from rgfactor.posterior.io import atomic_directory, versions, write_fit, write_json_safe
    from rgfactor.report import write_report
    from rgfactor.spec import ModelSpec

    spec_path = Path(spec_path) if spec_path else _default_spec()
    spec = ModelSpec.from_toml(spec_path)
    if quick:
        spec = spec.with_quick()
    if method:
        spec.inference["method"] = method
    data_root = data_root or os.environ.get(ENV_DATA_ROOT)
    source = spec.data["source"]
    options = dict(spec.data.get("options", {}))
    t0 = time.perf_counter()
    path = None if source in PATHLESS else spec.data_path(_project_root(spec_path), data_root)
    data, labels = load_source(source, options, path)
    structure = spec.model.get("structure", "GFA")
    model = getattr(estimators, structure)(**spec.estimator_params())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, progress=progress)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    wall = time.perf_counter() - t0
    out = Path(out) if out else Path("runs") / spec.name
    spec.run = {"versions": versions(), "seed": spec.seed, "quick": quick, "wall_time_s": round(wall, 2),
                "data_root": str(data_root) if data_root else spec.data.get("root", ""),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())}
    diagnostics = {**model.diagnostics_, "wall_time_s": wall,
                   "warnings": list(dict.fromkeys(model.diagnostics_.get("warnings", []) +
                                                  [str(w.message) for w in caught]))}

    extra = {"top_loadings": top_loadings(model.loadings_)}
    if structure == "PCCA":
        extra["canonical_correlations"] = canonical_table(model)

    def fill(tmp: Path) -> None:
        (tmp / "spec.toml").write_text(spec.to_toml())
        write_fit(model, tmp)
        (tmp / "diagnostics.json").write_text(json.dumps(write_json_safe(diagnostics), indent=1))
        report_diag = {k: v for k, v in diagnostics.items() if k != "summary"}
        if "summary" in diagnostics:
            report_diag["summary"] = pd.DataFrame(diagnostics["summary"])
        write_report(tmp, title=spec.report.get("title", spec.name), description=spec.description,
                     variance_explained=model.variance_explained(), factors=model.factors_,
                     labels=labels[[c for c in spec.report.get("labels", labels.columns)]] if labels is not None else None,
                     diagnostics=report_diag, spec_text=spec.to_toml(),
                     extra_tables=extra)

    atomic_directory(out, fill)
    print(f"rgfactor {rgfactor.__version__}: fitted '{spec.name}' ({structure}, {diagnostics['method']}) in "
          f"{wall:.1f} s -> {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rgfactor", description="Bayesian latent-factor models for radiogenomics.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a model spec and write a run directory")
    fit.add_argument("spec", nargs="?", help="models/NAME.toml (default: the embedded demo on simulated data)")
    fit.add_argument("--out", help="run directory to write (default runs/<spec name>); replaced atomically")
    fit.add_argument("--data-root", help=f"folder holding the datasets (default: the spec's root, resolved against "
                                         f"the project root; or ${ENV_DATA_ROOT})")
    fit.add_argument("--quick", action="store_true", help="apply the spec's [quick] reduced settings (CI)")
    fit.add_argument("--method", choices=["svi", "nuts", "cavi"], help="override the spec's inference method")
    fit.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty())
    bench = sub.add_parser("bench", help="run a benchmark of integration methods (benchmarks/*.toml) on Dask")
    bench.add_argument("config", help="benchmark config, e.g. benchmarks/default.toml")
    bench.add_argument("--out", required=True, help="output folder; a rerun resumes from its fits.jsonl")
    bench.add_argument("--scheduler", help="Dask scheduler address (tcp://...), or 'serial' for this process; "
                                          "default: a LocalCluster")
    bench.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    bench.add_argument("--data-root", help="folder holding the datasets (default: the config's data_root)")
    bench.add_argument("--retry-failed", action="store_true", help="run again the fits the log records as failed")
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            from rgfactor.benchmark import run_benchmark   # imports Dask and JAX lazily, not at --help

            res = run_benchmark(args.config, args.out, scheduler=args.scheduler, n_workers=args.workers,
                                data_root=args.data_root, retry_errors=args.retry_failed, progress=True)
            print(f"rgfactor bench: {res['info']['n_run']} fits run, {res['info']['n_reused']} reused, "
                  f"{res['info']['wall_s']:.0f} s -> {res['files']['report']}")
            return 0
        run_fit(args.spec, Path(args.out) if args.out else None, data_root=args.data_root, quick=args.quick,
                method=args.method, progress=args.progress)
    except RGFactorError as e:
        print(f"rgfactor: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
