"""Tasks: a cohort, a question (target) and a subject-level split, built from a config entry.

Sources:
- ``simulate``: :func:`rgfactor.simulate.multiview` with the entry's ``options``; truth ``Z``; labels
  ``true_factor1_positive`` (sign of true factor 1) and ``outcome`` ~ Bernoulli(expit(2 z_1)) (factor
  1 is active in every view, so the outcome is a shared signal).
- ``simulate_ppls``: :func:`rgfactor.simulate.ppls` with ``outcome=True``: predictor view ``x``,
  label ``outcome`` (the response y), truth = the predictor scores T.
- any real-data loader of :mod:`rgfactor.sources` (lgg_radiogenomics, breast_tcga, cll,
  tcga_glioma_counts), read from ``<data_root>/<path>`` (``options.path``, default the folder named
  in :data:`DATASET_FOLDERS`).

The target is a label column (``target = "COCCluster"``: classes) or a survival pair
(``target = {time = "TTT_or_censoring", event = "treated"}``); subjects without it are dropped.
The split is :class:`rgfactor.model_selection.SubjectKFold` (stratified by the class or the event),
or a fixed one by a label column (``split = {by = "split", train = "train", test = "test"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from rgfactor.data.multiview import MultiViewData
from rgfactor.errors import DataError, SpecError

DATASET_FOLDERS = {"lgg_radiogenomics": "tcga_lgg_radiogenomics", "tcga_glioma_counts": "tcga_glioma_counts",
                   "breast_tcga": "breast_tcga", "cll": "cll"}


@dataclass(frozen=True)
class Target:
    """The question of a task for a set of subjects.

    kind : 'class' or 'survival' (None: no clinical question, recovery only).
    y : Series of class labels (class) indexed by subject; classes : sorted class labels.
    time, event : Series (survival), event 1 = observed.
    """

    kind: str | None
    y: pd.Series | None = None
    classes: tuple = ()
    time: pd.Series | None = None
    event: pd.Series | None = None

    def subset(self, subjects) -> Target:
        pick = (lambda s: None if s is None else s.loc[list(subjects)])
        return Target(self.kind, pick(self.y), self.classes, pick(self.time), pick(self.event))


@dataclass(frozen=True)
class TaskData:
    """A built task: ``data`` (every subject), ``target``, ``truth`` (true factors (subject, factor)
    DataFrame, or None) and ``splits`` (list of (train IDs, test IDs))."""

    data: MultiViewData
    target: Target
    truth: pd.DataFrame | None
    splits: list


def restrict(data: MultiViewData, views=None, drop_features=()) -> MultiViewData:
    """``data`` with only ``views`` (in that order) and without the features ``drop_features``;
    subjects left with no view are dropped. Rebuilt through ``from_pandas`` (validated again).

    Raises
    ------
    SpecError  for an unknown view or feature name.
    """
    views = list(views or data.view_names)
    unknown = [v for v in views if v not in data.views]
    if unknown:
        raise SpecError(f"task views {unknown} are not in the cohort (views: {list(data.view_names)}).")
    all_features = {c for v in views for c in data.views[v].columns}
    missing = [f for f in drop_features if f not in all_features]
    if missing:
        raise SpecError(f"drop_features {missing} are not features of the views {views}.")
    frames = {v: data.views[v].drop(columns=[c for c in drop_features if c in data.views[v].columns])
              .dropna(how="all") for v in views}
    keep = pd.Index(sorted(set().union(*(f.index for f in frames.values())), key=list(data.subjects).index))
    return MultiViewData.from_pandas(frames, {v: data.likelihoods[v] for v in views},
                                     site=None if data.site is None else data.site.loc[keep],
                                     covariates=None if data.covariates is None else data.covariates.loc[keep],
                                     transforms={v: data.transforms[v] for v in views}, size_factors=data.size_factors)


def _simulate(options: dict, seed: int):
    from rgfactor import simulate

    opts = {**options, "random_state": seed}
    if "views" in opts:
        opts["views"] = {k: tuple(v) for k, v in opts["views"].items()}
    data, truth = simulate.multiview(**opts)
    z = pd.DataFrame(truth["Z"], index=data.subjects, columns=[f"true{k + 1}" for k in range(truth["Z"].shape[1])])
    rng = np.random.default_rng([seed, 1])
    labels = pd.DataFrame(index=data.subjects)
    labels["true_factor1_positive"] = np.where(z.iloc[:, 0] > 0, "pos", "neg")
    labels["outcome"] = np.where(rng.random(len(z)) < expit(2.0 * z.iloc[:, 0].to_numpy()), "yes", "no")
    return data, labels, z


def _simulate_ppls(options: dict, seed: int):
    from rgfactor import simulate

    frames, truth = simulate.ppls(**{**options, "outcome": True, "random_state": seed})
    data = MultiViewData.from_pandas({"x": frames["x"]}, {"x": "gaussian"})
    labels = pd.DataFrame({"outcome": np.where(frames["y"].iloc[:, 0] > 0.5, "yes", "no")}, index=data.subjects)
    z = pd.DataFrame(truth["T"], index=data.subjects, columns=[f"true{k + 1}" for k in range(truth["T"].shape[1])])
    return data, labels, z


def _real(source: str, options: dict, data_root: str):
    from rgfactor.sources import load_source

    options = dict(options)
    folder = options.pop("path", DATASET_FOLDERS.get(source, source))
    data, labels = load_source(source, options, Path(data_root) / folder)
    return data, labels, None


def _target(task: dict, labels: pd.DataFrame) -> Target:
    spec = task.get("target")
    if spec is None:
        return Target(None)
    cols = [spec] if isinstance(spec, str) else [spec.get("time"), spec.get("event")]
    missing = [c for c in cols if c not in labels.columns]
    if missing:
        raise SpecError(f"task '{task['name']}': target column(s) {missing} not among the labels "
                        f"{list(labels.columns)}.")
    if isinstance(spec, str):
        y = labels[spec].dropna()
        y = y.astype(int).astype(str) if pd.api.types.is_numeric_dtype(y) else y.astype(str)
        return Target("class", y, tuple(sorted(y.unique())))
    ok = labels[cols].notna().all(axis=1)
    time, event = labels.loc[ok, cols[0]].astype(float), labels.loc[ok, cols[1]].astype(float)
    if (time <= 0).any():
        raise DataError(f"task '{task['name']}': non-positive survival time, e.g. subject '{time.index[time <= 0][0]}'.")
    return Target("survival", time=time, event=event)


def _splits(task: dict, target: Target, labels: pd.DataFrame, data: MultiViewData, seed: int) -> list:
    from rgfactor.model_selection import SubjectKFold

    split = task.get("split", {})
    if "by" in split:
        col = labels[split["by"]].reindex(data.subjects)
        return [(np.asarray(data.subjects[col == split["train"]]), np.asarray(data.subjects[col == split["test"]]))]
    strat = target.y if target.kind == "class" else target.event if target.kind == "survival" else None
    cv = SubjectKFold(int(split.get("n_splits", 5)), stratify=strat, random_state=seed)
    return list(cv.split(data))


@lru_cache(maxsize=8)
def _build(task_json: str, data_seed: int, data_root: str) -> TaskData:
    task = json.loads(task_json)
    source, options = task["source"], task.get("options", {})
    if source == "simulate":
        data, labels, truth = _simulate(options, data_seed)
    elif source == "simulate_ppls":
        data, labels, truth = _simulate_ppls(options, data_seed)
    else:
        data, labels, truth = _real(source, options, data_root)
    if task.get("views") or task.get("drop_features"):
        data = restrict(data, task.get("views"), task.get("drop_features", ()))
    target = _target(task, labels.reindex(data.subjects))
    if target.kind is not None:
        keep = target.y.index if target.kind == "class" else target.time.index
        data = data.subset([s for s in data.subjects if s in set(keep)])
        target = target.subset(data.subjects)
    if truth is not None:
        truth = truth.loc[data.subjects]
    return TaskData(data, target, truth, _splits(task, target, labels, data, data_seed))


def build_task(task: dict, data_seed: int, data_root: str) -> TaskData:
    """The task of a config entry for one repetition (cached per process: the folds and methods of a
    repetition share one build)."""
    return _build(json.dumps(task, sort_keys=True), data_seed, data_root)
