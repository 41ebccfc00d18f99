"""ModelSpec: one analysis as a TOML file (data source, structure, priors, inference, report).

A spec has the tables ``[data]`` (source loader, path relative to the data root, loader options),
``[model]`` (structure and estimator parameters), ``[inference]`` (engine settings), ``[report]``
(title, label columns) and ``[quick]`` (overrides for a reduced run, e.g. in CI: keys of
``model``/``inference``, of the submodel table, or ``data.options``). The submodels take one more table:
``[mediation]`` (structure "Mediation": exposure, outcome and confounder columns of the source's labels,
mediators and the mediation settings) or ``[svc]`` (structure "SVC": response, covariate, coordinate and
group columns of the source's unit table, likelihood and prior settings). See ``models/*.toml``.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

from rgfactor.errors import SpecError

FACTOR_STRUCTURES = ("GFA", "PCCA", "PPLS")   # the factor models (rgfactor.estimators.structures)
STRUCTURES = FACTOR_STRUCTURES + ("Mediation", "SVC")   # each handled in rgfactor.spec_structures
# size/structure keys of [model] each structure takes (besides the shared keys below)
STRUCTURE_KEYS = {"GFA": {"n_factors", "factor_prior", "lengthscale_range", "n_basis", "gp_basis"}, "PCCA": {"n_shared", "n_specific"}, "PPLS": {"n_components", "response"},
                  "Mediation": {"n_factors"}, "SVC": set()}
FACTOR_MODEL_KEYS = {"sparsity", "site_effects", "view_weights"}   # the factor models' shared [model] keys
SHARED_MODEL_KEYS = {"Mediation": {"sparsity", "site_effects"}, "SVC": set()}   # default: FACTOR_MODEL_KEYS
MODEL_KEYS = {"structure"} | FACTOR_MODEL_KEYS | set().union(*STRUCTURE_KEYS.values())
# the submodels' own table: name, its keys, and the keys it needs (one of each tuple)
MEDIATION_KEYS = {"exposure", "outcome", "time", "event", "confounders", "mediators", "outcome_likelihood",
                  "interaction", "horizon", "control_value", "treat_value"}
SVC_KEYS = {"response", "covariates", "coordinates", "groups", "offset", "likelihood", "kernel", "lengthscale_range",
            "n_basis", "boundary_factor", "amplitude_scale", "coefficient_scale", "target_accept"}
SUBMODEL_TABLES = {"Mediation": ("mediation", MEDIATION_KEYS, (("exposure",), ("outcome", "time"))),
                   "SVC": ("svc", SVC_KEYS, (("response",), ("coordinates",)))}
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
    mediation: dict = field(default_factory=dict)
    svc: dict = field(default_factory=dict)

    @property
    def structure(self) -> str:
        return self.model.get("structure", "GFA")

    def __post_init__(self):
        structure = self.structure
        if structure not in STRUCTURES:
            raise SpecError(f"spec '{self.name}': unknown structure '{structure}'; choose one of {STRUCTURES}.")
        model_keys = {"structure"} | STRUCTURE_KEYS[structure] | SHARED_MODEL_KEYS.get(structure, FACTOR_MODEL_KEYS)
        wrong = set(self.model) & (MODEL_KEYS - model_keys)
        if wrong:
            raise SpecError(f"spec '{self.name}': key(s) {sorted(wrong)} in [model] do not apply to structure "
                            f"'{structure}', which takes {sorted(model_keys - {'structure'})}.")
        self._check_submodel_table(structure)
        for table, allowed in (("model", MODEL_KEYS), ("inference", INFERENCE_KEYS)):
            unknown = set(getattr(self, table)) - allowed
            if unknown:
                raise SpecError(f"spec '{self.name}': unknown key(s) {sorted(unknown)} in [{table}]; "
                                f"allowed: {sorted(allowed)}.")
        if "source" not in self.data:
            raise SpecError(f"spec '{self.name}': [data] needs a 'source' (a loader name).")

    def _check_submodel_table(self, structure: str) -> None:
        """The [mediation]/[svc] table: present for its structure only, known keys, the required ones."""
        for other, (table, _, _) in SUBMODEL_TABLES.items():
            if other != structure and getattr(self, table):
                raise SpecError(f"spec '{self.name}': a [{table}] table belongs to structure '{other}', not "
                                f"'{structure}'.")
        if structure not in SUBMODEL_TABLES:
            return
        table, allowed, required = SUBMODEL_TABLES[structure]
        given = getattr(self, table)
        unknown = set(given) - allowed
        if unknown:
            raise SpecError(f"spec '{self.name}': unknown key(s) {sorted(unknown)} in [{table}]; allowed: "
                            f"{sorted(allowed)}.")
        for keys in required:
            if not any(k in given for k in keys):
                raise SpecError(f"spec '{self.name}': [{table}] needs `{' or '.join(keys)}` (structure "
                                f"'{structure}'; keys: {sorted(allowed)}).")

    @property
    def submodel(self) -> dict:
        """The structure's own table ([mediation] or [svc]); {} for the factor models."""
        return getattr(self, SUBMODEL_TABLES[self.structure][0]) if self.structure in SUBMODEL_TABLES else {}

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
        known = {"name", "data", "model", "inference", "report", "quick", "description", "seed", "run"} | \
            {table for table, _, _ in SUBMODEL_TABLES.values()}
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
        own = SUBMODEL_TABLES.get(self.structure, (None, set(), ()))[1]
        for key, value in self.quick.items():
            if key in own:
                out.submodel[key] = value
            elif key in MODEL_KEYS:
                out.model[key] = value
            elif key in INFERENCE_KEYS:
                out.inference[key] = value
            elif key == "options":
                out.data.setdefault("options", {}).update(value)
            else:
                raise SpecError(f"spec '{self.name}': unknown key '{key}' in [quick].")
        out.quick = {}
        out.__post_init__()   # an override must still be a valid spec
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
