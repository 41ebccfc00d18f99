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


from rgfactor.errors import RGFactorError

ENV_DATA_ROOT = "RGFACTOR_DATA_ROOT"


def _default_spec() -> Path:
    return Path(str(resources.files("rgfactor") / "models" / "demo.toml"))


def _project_root(spec_path: Path) -> Path:
    """The project root a spec's relative data root is resolved against: the parent of its models/ folder."""
    spec_path = spec_path.resolve()
    return spec_path.parent.parent if spec_path.parent.name == "models" else Path.cwd()


def status(message: str, progress) -> None:
    """A phase of a long run, on stderr (when progress is on)."""
    if progress:
        print(f"rgfactor: {message}", file=sys.stderr, flush=True)


def run_fit(spec_path: Path | None, out: Path | None, *, data_root: str | None, quick: bool, method: str | None,
            progress: bool) -> Path:
    """Fit a spec and write its run directory (see ARCHITECTURE.md, "What a run writes")."""
    status("loading the model and the data", progress)

    import rgfactor
    from rgfactor.posterior.fsio import atomic_directory
    from rgfactor.posterior.io import versions, write_json_safe
    from rgfactor.sources import load_source, spec_source
    from rgfactor.spec import ModelSpec
    from rgfactor.spec_structures import structure_of

    spec_path = Path(spec_path) if spec_path else _default_spec()
    spec = ModelSpec.from_toml(spec_path)
    if quick:
        spec = spec.with_quick()
    if method:
        spec.inference["method"] = method
    data_root = data_root or os.environ.get(ENV_DATA_ROOT)
    source, options, path = spec_source(spec, spec_path, _project_root(spec_path), data_root)
    t0 = time.perf_counter()
    data, labels = load_source(source, options, path)
    structure, kind = spec.structure, structure_of(spec)
    model = kind.build(spec)
    status(f"fitting {structure} to {data!r}" if hasattr(data, "views") else
           f"fitting {structure} to {len(data)} units", progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kind.fit(model, data, labels, spec, progress)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    wall = time.perf_counter() - t0
    out = Path(out) if out else Path("runs") / spec.name
    spec.run = {"versions": versions(), "seed": spec.seed, "quick": quick, "wall_time_s": round(wall, 2),
                "method": model.diagnostics_["method"], **kind.record(model),
                "data_root": str(data_root) if data_root else spec.data.get("root", ""),
                "data_sha256": kind.fingerprint(data, labels, spec),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())}
    diagnostics = {**model.diagnostics_, "wall_time_s": wall,
                   "warnings": list(dict.fromkeys(model.diagnostics_.get("warnings", []) +
                                                  [str(w.message) for w in caught]))}

    def fill(tmp: Path) -> None:
        from rgfactor.inference.interrupt import check

        (tmp / "spec.toml").write_text(spec.to_toml())
        (tmp / "diagnostics.json").write_text(json.dumps(write_json_safe(diagnostics), indent=1))
        kind.write(tmp, model, data, labels, spec, diagnostics)   # posterior.nc, model.json, the report
        check()   # Ctrl-C while writing: the half-written directory is removed, an earlier one kept

    status(f"fitted in {wall:.1f} s; writing the run directory and report", progress)
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
    fit.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                     help="phase messages and progress bars on stderr (default: on)")
    bench = sub.add_parser("bench", help="run a benchmark of integration methods (benchmarks/*.toml) on Dask")
    bench.add_argument("config", help="benchmark config, e.g. benchmarks/default.toml")
    bench.add_argument("--out", required=True, help="output folder; a rerun resumes from its fits.jsonl")
    bench.add_argument("--scheduler", help="Dask scheduler address (tcp://...), or 'serial' for this process; "
                                          "default: a LocalCluster")
    bench.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    bench.add_argument("--data-root", help="folder holding the datasets (default: the config's data_root)")
    bench.add_argument("--retry-failed", action="store_true", help="run again the fits the log records as failed")
    args = parser.parse_args(argv)
    from rgfactor.inference.interrupt import interruptible

    try:
        if args.command == "bench":   # Dask workers are stopped by a plain KeyboardInterrupt; the log resumes
            from rgfactor.benchmark import run_benchmark   # imports Dask and JAX lazily, not at --help

            res = run_benchmark(args.config, args.out, scheduler=args.scheduler, n_workers=args.workers,
                                data_root=args.data_root, retry_errors=args.retry_failed,
                                progress=lambda line: status(line, True))
            print(f"rgfactor bench: {res['info']['n_run']} fits run, {res['info']['n_reused']} reused, "
                  f"{res['info']['wall_s']:.0f} s -> {res['files']['report']}")
            return 0
        with interruptible():
            run_fit(args.spec, Path(args.out) if args.out else None, data_root=args.data_root, quick=args.quick,
                    method=args.method, progress=args.progress)
    except RGFactorError as e:
        print(f"rgfactor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rgfactor: interrupted; nothing was written.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
