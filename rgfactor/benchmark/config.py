"""A benchmark as a TOML file: tasks (cohort + question + split) and methods, expanded into fit units.

    name = "default"
    seed = 0
    data_root = "../shared/data"          # relative to the project root (the folder above benchmarks/)
    threads_per_worker = 1                # BLAS/OpenMP/XLA threads of each worker
    jax_cache = false                     # true: workers share a persistent JAX compilation cache in <out>/.jax_cache
                                          # (off by default: jaxlib 0.9 may crash loading it, see rgfactor.inference.jaxcache)

    [[task]]
    name = "sim_gaussian"
    source = "simulate"                   # rgf.simulate.multiview; "simulate_ppls"; or a loader name
    options = { n_subjects = 200, n_factors = 4, n_sites = 0 }
    target = "outcome"                    # a label column; survival: { time = "...", event = "..." }
    split = { n_splits = 4, folds = [0], repeats = 3 }   # or { by = "split", train = "train", test = "test" }
    heldout_metrics = true                # the methods' own held-out metrics (log density, coverage)

    [[method]]
    name = "GFA (CAVI)"
    kind = "gfa"                          # a built-in adapter, "package.module:Class" or "file.py:Class"
    params = { n_factors = 6, method = "cavi" }
    tasks = ["sim_*"]                     # optional: glob patterns of the tasks it runs on

One unit = one (task, repetition, fold, method) fit with its own seed; its id hashes everything that
determines its result, so a changed entry is refitted and an unchanged one is never redone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rgfactor.errors import SpecError

TASK_KEYS = {"name", "source", "options", "target", "views", "drop_features", "split", "heldout_metrics",
             "description"}
SPLIT_KEYS = {"n_splits", "folds", "repeats", "by", "train", "test"}
METHOD_KEYS = {"name", "kind", "params", "tasks", "description"}
TOP_KEYS = {"name", "description", "seed", "data_root", "threads_per_worker", "jax_cache", "task", "method"}


@dataclass(frozen=True)
class Unit:
    """One fit: ``method`` on ``task``'s fold ``fold`` of repetition ``repeat``.

    ``data_seed`` (shared by every method and fold of a repetition) draws the simulated cohort and the
    split; ``seed`` (one per unit) is the method's.
    """

    task: dict
    method: dict
    repeat: int
    fold: int
    seed: int
    data_seed: int
    data_root: str

    @property
    def key(self) -> dict:
        return {"task": self.task["name"], "method": self.method["name"], "repeat": self.repeat, "fold": self.fold}

    @property
    def id(self) -> str:
        blob = json.dumps([self.task, self.method, self.repeat, self.fold, self.seed, self.data_seed], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


@dataclass
class BenchmarkConfig:
    """A parsed benchmark config (module docstring). ``root``: the folder data_root is resolved against."""

    name: str
    tasks: list[dict]
    methods: list[dict]
    seed: int = 0
    data_root: str = "../shared/data"
    threads_per_worker: int = 1
    jax_cache: bool = False
    description: str = ""
    root: Path = field(default_factory=Path.cwd)

    def __post_init__(self):
        _unique(self.tasks, "task")
        _unique(self.methods, "method")
        for t in self.tasks:
            _check_keys(t, TASK_KEYS, f"task '{t.get('name')}'")
            if "source" not in t:
                raise SpecError(f"benchmark '{self.name}': task '{t['name']}' needs a 'source' (simulate, "
                                "simulate_ppls or a loader name).")
            split = t.setdefault("split", {})
            _check_keys(split, SPLIT_KEYS, f"task '{t['name']}' split")
            if "by" in split and not {"train", "test"} <= set(split):
                raise SpecError(f"task '{t['name']}': split by a label column needs 'train' and 'test' values.")
        for m in self.methods:
            _check_keys(m, METHOD_KEYS, f"method '{m.get('name')}'")
            if "kind" not in m:
                raise SpecError(f"benchmark '{self.name}': method '{m['name']}' needs a 'kind' (an adapter name, "
                                "'package.module:Class' or 'file.py:Class').")
            for pat in m.get("tasks", ["*"]):
                if not any(fnmatch.fnmatchcase(t["name"], pat) for t in self.tasks):
                    raise SpecError(f"method '{m['name']}': task pattern '{pat}' matches no task "
                                    f"({[t['name'] for t in self.tasks]}).")

    @classmethod
    def from_toml(cls, path) -> BenchmarkConfig:
        """Read a config; a relative ``data_root`` and file adapters resolve against the project root
        (the parent of a ``benchmarks/`` folder holding the file, else the file's folder).

        Raises
        ------
        SpecError  for an unreadable file, unknown keys or duplicated names.
        """
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SpecError(f"cannot read benchmark config '{path}': {e}") from e
        root = path.resolve().parent
        if root.name == "benchmarks":
            root = root.parent
        return cls.from_dict(raw, root=root, default_name=path.stem)

    @classmethod
    def from_dict(cls, raw: dict, *, root: Path | None = None, default_name: str = "benchmark") -> BenchmarkConfig:
        _check_keys(raw, TOP_KEYS, "benchmark config")
        if not raw.get("task") or not raw.get("method"):
            raise SpecError("a benchmark config needs at least one [[task]] and one [[method]].")
        return cls(name=raw.get("name", default_name), tasks=[dict(t) for t in raw["task"]],
                   methods=[dict(m) for m in raw["method"]], seed=int(raw.get("seed", 0)),
                   data_root=raw.get("data_root", "../shared/data"),
                   threads_per_worker=int(raw.get("threads_per_worker", 1)), jax_cache=bool(raw.get("jax_cache", False)),
                   description=raw.get("description", ""),
                   root=Path(root) if root is not None else Path.cwd())

    def resolved_data_root(self, override: str | None = None) -> str:
        root = Path(override or self.data_root)
        return str(root if root.is_absolute() else (self.root / root).resolve())

    def method_entry(self, m: dict) -> dict:
        """The method entry with a file adapter's path made absolute (workers may run elsewhere)."""
        kind = m["kind"]
        if ":" in kind and kind.split(":")[0].endswith(".py"):
            file, cls_name = kind.rsplit(":", 1)
            p = Path(file)
            m = {**m, "kind": f"{p if p.is_absolute() else (self.root / p).resolve()}:{cls_name}"}
        return m

    def units(self, data_root: str | None = None) -> list[Unit]:
        """Every fit of the benchmark, task by task (repetition, fold, method)."""
        root = self.resolved_data_root(data_root)
        out = []
        for t in self.tasks:
            split = t.get("split", {})
            repeats = int(split.get("repeats", 1))
            folds = [0] if "by" in split else list(split.get("folds", range(int(split.get("n_splits", 5)))))
            methods = [m for m in self.methods if any(fnmatch.fnmatchcase(t["name"], p) for p in m.get("tasks", ["*"]))]
            for r in range(repeats):
                data_seed = _seed(self.seed, t["name"], r)
                for f in folds:
                    for m in methods:
                        seed = _seed(self.seed, t["name"], m["name"], r, f)
                        out.append(Unit(task=t, method=self.method_entry(m), repeat=r, fold=int(f), seed=seed,
                                        data_seed=data_seed, data_root=root))
        return out


def _seed(base: int, *parts) -> int:
    """A seed per unit, stable across runs and machines (not Python's salted hash)."""
    h = hashlib.sha256(json.dumps([base, *parts]).encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _unique(entries: list[dict], what: str) -> None:
    names = [e.get("name") for e in entries]
    if any(n is None for n in names):
        raise SpecError(f"every [[{what}]] needs a 'name'.")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"[[{what}]] names must be unique; repeated: {dup}.")


def _check_keys(entry: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}.")
