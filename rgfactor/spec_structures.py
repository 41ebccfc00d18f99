"""How each ``[model] structure`` of a spec is built, fitted, saved and reported: the one dispatch of
``rgfactor fit`` (:func:`rgfactor.cli.run_fit`), which does the rest (loading, the atomic run
directory, spec.toml with what ran, diagnostics.json, warnings, Ctrl-C) the same way for all.

* factor models (GFA, PCCA, PPLS): ``model.fit(data)`` on the source's MultiViewData; the factor report.
* Mediation: ``[mediation]`` names the exposure, outcome and confounder columns of the source's labels;
  the report's mediation section (forest plot, LaTeX table).
* SVC: ``[svc]`` names the response, covariate, coordinate and group columns of the source's unit
  table (:mod:`rgfactor.data.units`); the report's svc section (curves or maps, spatial variation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rgfactor.errors import DataError, SpecError
from rgfactor.spec import FACTOR_STRUCTURES, STRUCTURES as SPEC_STRUCTURES


@dataclass(frozen=True)
class Structure:
    """What ``rgfactor fit`` needs to know about one structure.

    build(spec) -> unfitted estimator; fit(model, data, labels, spec, progress) fits it;
    write(folder, model, data, labels, spec, diagnostics) writes posterior.nc, model.json and the
    report into the run folder; record(model) -> the fields of spec.toml's [run] beyond the shared
    ones; fingerprint(data, labels, spec) -> SHA-256 of the data as fitted.
    """

    build: Callable
    fit: Callable
    write: Callable
    record: Callable
    fingerprint: Callable = lambda data, labels, spec: data.fingerprint()


def report_fields(spec, labels: pd.DataFrame | None, diagnostics: dict) -> dict:
    """The report arguments every structure takes from the spec: title, description, labels, spec text."""
    shown = labels[list(spec.report.get("labels", labels.columns))] if labels is not None else None
    return {"title": spec.report.get("title", spec.name), "description": spec.description or None,
            "spec_text": spec.to_toml(), "diagnostics": diagnostics, "labels": shown}


def no_factors(subjects) -> tuple:
    """Empty variance-explained (view, factor) and factors (subject, factor) arrays: the report of a
    model without latent factors (its factor sections are left out)."""
    import xarray as xr

    ve = xr.DataArray(np.zeros((0, 0)), dims=("view", "factor"), coords={"view": [], "factor": []})
    z = xr.DataArray(np.zeros((len(subjects), 0)), dims=("subject", "factor"),
                     coords={"subject": [str(s) for s in subjects], "factor": []})
    return ve, z


def write_meta(folder: Path, model, **more) -> None:
    """model.json: class, parameters, diagnostics and ``more`` (the submodels' record of a run)."""
    from rgfactor.posterior.io import versions, write_json_safe

    meta = {"class": type(model).__name__, "params": model.get_params(), "diagnostics": model.diagnostics_,
            "versions": versions(), **more}
    (Path(folder) / "model.json").write_text(json.dumps(write_json_safe(meta), indent=1))


# ------------------------------------------------------------------ factor models
def _canonical_table(model):
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


def _build_factor_model(spec):
    from rgfactor import estimators

    return getattr(estimators, spec.structure)(**spec.estimator_params())


def _write_factor_model(folder, model, data, labels, spec, diagnostics) -> None:
    from rgfactor.posterior.io import write_fit
    from rgfactor.reporting import write_model_report

    write_fit(model, folder)
    extra = {"canonical_correlations": _canonical_table(model)} if spec.structure == "PCCA" else {}
    fields = report_fields(spec, labels, diagnostics)
    write_model_report(folder, model, data, fields.pop("labels"), level_names=spec.report.get("levels"),
                       extra_tables=extra, **fields)


FACTOR_MODEL = Structure(
    build=_build_factor_model,
    fit=lambda model, data, labels, spec, progress: model.fit(data, progress=progress),
    write=_write_factor_model,
    record=lambda model: {"sparsity": model.diagnostics_["sparsity"]})


# ------------------------------------------------------------------ mediation
MEDIATION_SETTINGS = ("interaction", "control_value", "treat_value", "horizon")


def _build_mediation(spec):
    from rgfactor.mediation import Mediation

    med = spec.mediation
    settings = {k: med[k] for k in MEDIATION_SETTINGS if k in med}
    outcome = med.get("outcome_likelihood", "survival" if "time" in med else "gaussian")
    return Mediation(mediators=med.get("mediators", "factors"), outcome=outcome, **settings,
                     **spec.estimator_params())


def _label_columns(labels, key: str, names) -> pd.DataFrame:
    """Columns ``names`` of the source's labels, for the ``[mediation]`` key ``key``."""
    names = [names] if isinstance(names, str) else list(names)
    if labels is None or labels.shape[1] == 0:
        raise DataError(f"[mediation] `{key}` names column(s) {names}, but the data source returned no labels "
                        "(clinical table); use a source with labels, e.g. 'tables' with [data.clinical].")
    missing = [n for n in names if n not in labels.columns]
    if missing:
        raise DataError(f"[mediation] `{key}` names column(s) {missing}, not among the data source's labels "
                        f"{[str(c) for c in labels.columns]}.")
    return labels[names]


def mediation_columns(labels, med: dict, outcome_likelihood: str):
    """(exposure Series, outcome Series or survival DataFrame (time, event), confounders DataFrame or None)."""
    exposure = _label_columns(labels, "exposure", med["exposure"]).iloc[:, 0]
    if outcome_likelihood == "survival":
        if "time" not in med or "event" not in med:
            raise SpecError("[mediation] a survival outcome needs `time` and `event` (columns of the labels), "
                            "not `outcome`.")
        outcome = pd.DataFrame({"time": _label_columns(labels, "time", med["time"]).iloc[:, 0],
                                "event": _label_columns(labels, "event", med["event"]).iloc[:, 0]})
    else:
        if "outcome" not in med:
            raise SpecError(f"[mediation] an outcome of likelihood '{outcome_likelihood}' needs `outcome` (a column "
                            "of the labels); `time`/`event` are for outcome_likelihood = 'survival'.")
        outcome = _label_columns(labels, "outcome", med["outcome"]).iloc[:, 0]
    conf = med.get("confounders") or None
    return exposure, outcome, None if conf is None else _label_columns(labels, "confounders", conf)


def _fit_mediation(model, data, labels, spec, progress) -> None:
    exposure, outcome, confounders = mediation_columns(labels, spec.mediation, model.outcome)
    model.fit(data, exposure=exposure, outcome=outcome, confounders=confounders, progress=progress)


def _write_mediation(folder, model, data, labels, spec, diagnostics) -> None:
    folder = Path(folder)
    model.idata_.to_netcdf(str(folder / "posterior.nc"))
    model.effects_.to_netcdf(str(folder / "effects.nc"))
    write_meta(folder, model, columns={k: v for k, v in spec.mediation.items() if k in ("exposure", "outcome", "time",
                                                                                       "event", "confounders")},
               subjects=[str(s) for s in model.inputs_.subjects])
    fields = report_fields(spec, labels, diagnostics)
    if model.latent:
        model.report(folder, **fields)
        return
    from rgfactor.report import write_report

    ve, z = no_factors(model.inputs_.subjects)
    fields["labels"] = None   # no factors to associate with labels
    write_report(folder, variance_explained=ve, factors=z,
                 submodels={"mediation": {"summary": model.summary(), "unit": model.effect_unit_}},
                 extra_tables={"mediator_inclusion": model.inclusion()}, **fields)


def _mediation_fingerprint(data, labels, spec) -> str:
    """The views' fingerprint and the label columns the [mediation] table names (exposure, outcome, confounders)."""
    import hashlib

    med = spec.mediation
    names = [med[k] for k in ("exposure", "outcome", "time", "event") if k in med] + list(med.get("confounders") or [])
    h = hashlib.sha256(data.fingerprint().encode())
    if labels is not None:
        used = labels[[n for n in names if n in labels.columns]]
        h.update(pd.util.hash_pandas_object(used, index=True).to_numpy().tobytes())
        h.update("|".join(map(str, used.columns)).encode())
    return h.hexdigest()


MEDIATION = Structure(build=_build_mediation, fit=_fit_mediation, write=_write_mediation,
                      record=lambda model: {"mediators": model.diagnostics_.get("mediators"),
                                            "sparsity": model.sparsity},
                      fingerprint=_mediation_fingerprint)


# ------------------------------------------------------------------ spatially varying coefficients
SVC_COLUMNS = ("response", "covariates", "coordinates", "groups", "offset", "likelihood")


def _build_svc(spec):
    from rgfactor.svc import SVC

    settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.svc.items() if k not in SVC_COLUMNS}
    return SVC(likelihood=spec.svc.get("likelihood", "gaussian"), **settings, **spec.inference,
               random_state=spec.seed)


def _fit_svc(model, table, labels, spec, progress) -> None:
    from rgfactor.data.units import svc_inputs

    inputs, offset = svc_inputs(table, **{k: spec.svc[k] for k in SVC_COLUMNS if k in spec.svc})
    model.set_params(progress=bool(progress))
    model.fit(inputs.responses.iloc[:, 0], inputs.covariates, inputs.coordinates, inputs.groups, offset=offset)


def svc_report_inputs(model, interval: float = 0.95) -> dict:
    """The svc report section's inputs: the surfaces (posterior mean and central ``interval`` per unit
    and term) with the units' coordinates, and :meth:`~rgfactor.svc.SVC.spatial_variation`."""
    post = model.idata_.posterior["beta"]
    tail = (1.0 - interval) / 2
    q = post.quantile([tail, 1.0 - tail], dim=("chain", "draw"))
    coords = model.idata_.constant_data["coordinates"].values
    units = [str(u) for u in post["unit"].values]
    parts = []
    for j, term in enumerate(model.terms_):
        part = pd.DataFrame(coords, columns=model.coordinate_names_, index=pd.Index(units, name="unit"))
        part["term"] = term
        part["mean"] = post.isel(term=j).mean(("chain", "draw")).values
        part["lower"], part["upper"] = q.isel(term=j).values
        parts.append(part)
    return {"surfaces": pd.concat(parts), "coordinates": list(model.coordinate_names_),
            "spatial_variation": model.spatial_variation(), "interval": interval,
            "response": model.idata_.posterior.attrs.get("response", "the response")}


def _write_svc(folder, model, table, labels, spec, diagnostics) -> None:
    from rgfactor.report import write_report

    model.write(folder)
    fields = report_fields(spec, None, diagnostics)
    ve, z = no_factors([])
    write_report(folder, variance_explained=ve, factors=z, submodels={"svc": svc_report_inputs(model)}, **fields)


def _svc_fingerprint(table, labels, spec) -> str:
    from rgfactor.data.units import table_fingerprint

    if not isinstance(table, pd.DataFrame):
        raise DataError(f"structure 'SVC' needs a unit table; the data source returned {type(table).__name__}.")
    return table_fingerprint(table)


SVC_STRUCTURE = Structure(build=_build_svc, fit=_fit_svc, write=_write_svc,
                          record=lambda model: {"likelihood": model.likelihood}, fingerprint=_svc_fingerprint)

STRUCTURES = {**dict.fromkeys(FACTOR_STRUCTURES, FACTOR_MODEL), "Mediation": MEDIATION, "SVC": SVC_STRUCTURE}
if set(STRUCTURES) != set(SPEC_STRUCTURES):   # the spec's list of structures is the one list
    raise RuntimeError(f"rgfactor.spec_structures handles {sorted(STRUCTURES)}, rgfactor.spec declares "
                       f"{sorted(SPEC_STRUCTURES)}")


def structure_of(spec) -> Structure:
    """The :class:`Structure` of a spec's ``[model] structure`` (validated by :class:`~rgfactor.spec.ModelSpec`)."""
    return STRUCTURES[spec.structure]
