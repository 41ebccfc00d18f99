"""ModelSpec: one analysis as a TOML file (data source, structure, priors, inference, report).

A spec has the tables ``[data]`` (source loader, path relative to the data root, loader options),
``[model]`` (structure and estimator parameters), ``[inference]`` (engine settings), ``[report]``
(title, label columns) and ``[quick]`` (overrides for a reduced run, e.g. in CI: keys of
``model``/``inference`` or ``data.options``). See ``models/*.toml``.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

from rgfactor.errors import SpecError

STRUCTURES = ("GFA", "PCCA", "PPLS")
# size/structure keys of [model] each structure takes (besides sparsity, site_effects and view_weights)
STRUCTURE_KEYS = {"GFA": {"n_factors"}, "PCCA": {"n_shared", "n_specific"}, "PPLS": {"n_components", "response"}}
MODEL_KEYS = {"structure", "sparsity", "site_effects", "view_weights"} | set().union(*STRUCTURE_KEYS.values())
INFERENCE_KEYS = {"method", "max_iter", "tol", "learning_rate", "num_draws", "num_warmup", "num_chains"}
DEFAULT_DATA_ROOT = "../shared/data"


@dataclass
class ModelSpec:
    """A parsed spec. ``data`` keys: source, path, root (relative to the project root), options."""

    name: str
    data: dict
    model: dict
    inference: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    description: str = ""
    seed: int = 0
    run: dict = field(default_factory=dict)

    def __post_init__(self):
        structure = self.model.get("structure", "GFA")
        if structure not in STRUCTURES:
            raise SpecError(f"spec '{self.name}': unknown structure '{structure}'; choose one of {STRUCTURES}.")
        for table, allowed in (("model", MODEL_KEYS), ("inference", INFERENCE_KEYS)):
            unknown = set(getattr(self, table)) - allowed
            if unknown:
                raise SpecError(f"spec '{self.name}': unknown key(s) {sorted(unknown)} in [{table}]; "
                                f"allowed: {sorted(allowed)}.")
        wrong = (set(self.model) & set().union(*STRUCTURE_KEYS.values())) - STRUCTURE_KEYS[structure]
        if wrong:
            raise SpecError(f"spec '{self.name}': key(s) {sorted(wrong)} in [model] do not apply to structure "
                            f"'{structure}', which takes {sorted(STRUCTURE_KEYS[structure])}.")
        if "source" not in self.data:
            raise SpecError(f"spec '{self.name}': [data] needs a 'source' (a loader name).")

    @classmethod
    def from_toml(cls, path) -> ModelSpec:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SpecError(f"spec file '{path}' not found.") from None
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"spec file '{path}' is not valid TOML: {e}") from None
        return cls.from_dict(raw, default_name=path.stem)

    @classmethod
    def from_dict(cls, raw: dict, default_name: str = "model") -> ModelSpec:
        raw = copy.deepcopy(raw)
        known = {"name", "data", "model", "inference", "report", "quick", "description", "seed", "run"}
        unknown = set(raw) - known
        if unknown:
            raise SpecError(f"spec '{raw.get('name', default_name)}': unknown table(s)/key(s) {sorted(unknown)}.")
        raw.setdefault("name", default_name)
        for key in ("data", "model"):
            if key not in raw:
                raise SpecError(f"spec '{raw['name']}' has no [{key}] table.")
        return cls(**raw)

    def to_toml(self) -> str:
        return tomli_w.dumps({k: v for k, v in asdict(self).items() if v not in ({}, "")})

    def with_quick(self) -> ModelSpec:
        """A copy with the ``[quick]`` overrides applied (reduced settings for CI)."""
        out = copy.deepcopy(self)
        for key, value in self.quick.items():
            if key in MODEL_KEYS:
                out.model[key] = value
            elif key in INFERENCE_KEYS:
                out.inference[key] = value
            elif key == "options":
                out.data.setdefault("options", {}).update(value)
            else:
                raise SpecError(f"spec '{self.name}': unknown key '{key}' in [quick].")
        out.quick = {}
        return out

    def data_path(self, project_root: Path, data_root: str | None = None) -> Path:
        """Folder of the dataset: ``data_root`` (or the spec's root, relative to ``project_root``) / path."""
        root = Path(data_root) if data_root else Path(project_root) / self.data.get("root", DEFAULT_DATA_ROOT)
        return root / self.data.get("path", "")

    def estimator_params(self) -> dict:
        params = {k: v for k, v in self.model.items() if k != "structure"}
        params.update(self.inference)
        params["random_state"] = self.seed
        return params
