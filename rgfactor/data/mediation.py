"""The exposure, outcome and confounders of a mediation analysis: checks, encoding and the outcome view.

:func:`mediation_inputs` validates what :meth:`rgfactor.mediation.Mediation.fit` is given (Series and
DataFrames indexed by subject ID), aligns them with the cohort's subjects and encodes them for the
model:

* exposure: binary (0/1, kept as is) or continuous (standardised; ``control_value``/``treat_value``
  are mapped the same way);
* outcome: ``gaussian`` (standardised; effects are reported on the original scale), ``bernoulli``
  (0/1) or ``survival`` (a DataFrame with columns ``time`` > 0 and ``event`` 0/1; right censoring;
  times are divided by the median observed time);
* confounders: numeric columns standardised, text/categorical ones one-hot encoded (first level
  dropped), as the covariates of :meth:`MultiViewData.from_pandas`.

Subjects without the exposure or a confounder are dropped (a DataWarning says how many); subjects
without the outcome are dropped too, or kept with the outcome masked (latent mediators: they still
inform the factors). Nothing passed is modified in place.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rgfactor.data.arrays import ViewArrays
from rgfactor.data.checks import check_covariates, check_encoded_covariates, normalise_ids
from rgfactor.errors import DataError, DataWarning

OUTCOMES = ("gaussian", "bernoulli", "survival")
SURVIVAL_COLUMNS = ("time", "event")


@dataclass(frozen=True)
class MediationInputs:
    """Validated, aligned and encoded inputs of a mediation model.

    subjects : the kept subject IDs (cohort order).
    exposure : (n,) model-scale exposure (0/1, or standardised).  exposure_kind : 'binary' | 'continuous'.
    exposure_mean, exposure_sd : the standardisation of a continuous exposure (0 and 1 when binary).
    outcome : (n,) model-scale outcome: standardised (gaussian), 0/1 (bernoulli), signed time in units
        of ``outcome_scale`` (survival: +t event, -t censored); NaN = missing.
    outcome_mean, outcome_scale : gaussian: mean and sd of the outcome; survival: 0 and the median
        observed time (the unit of the model's times); bernoulli: 0 and 1.
    outcome_name : the outcome's name (Series name or 'outcome').
    confounders : (n, P) standardised encoded confounders, or None.  confounder_names : their names.
    """

    subjects: tuple
    exposure: np.ndarray
    exposure_kind: str
    exposure_mean: float
    exposure_sd: float
    outcome: np.ndarray
    outcome_mean: float
    outcome_scale: float
    outcome_name: str
    confounders: np.ndarray | None
    confounder_names: tuple

    def exposure_value(self, value: float) -> float:
        """A value of the exposure on the original scale, on the model's scale."""
        return (float(value) - self.exposure_mean) / self.exposure_sd


def _series(x, what: str) -> pd.Series:
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise DataError(f"{what} must be a Series (or a one-column DataFrame) indexed by subject ID; got "
                            f"{x.shape[1]} columns {list(x.columns)[:5]}.")
        x = x.iloc[:, 0]
    if not isinstance(x, pd.Series):
        raise DataError(f"{what} must be a pandas Series indexed by subject ID, got {type(x).__name__}.")
    out = x.copy()
    out.index = normalise_ids(x.index, what)
    return out


def _numeric(s: pd.Series, what: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        bad = s.dropna().iloc[0] if s.notna().any() else None
        raise DataError(f"{what} must be numeric; subject '{s.dropna().index[0] if bad is not None else '?'}' has "
                        f"{bad!r}. Encode a binary exposure as 0/1 (1 = exposed).")
    x = s.astype(float)
    inf = np.isinf(x.to_numpy())
    if inf.any():
        raise DataError(f"{what} has an infinite value for subject '{x.index[np.flatnonzero(inf)[0]]}'.")
    return x


def exposure_kind(x: pd.Series) -> str:
    """'binary' when the observed values are 0 and 1, else 'continuous'.

    Raises DataError for fewer than two distinct values."""
    values = np.unique(x.dropna().to_numpy())
    if len(values) < 2:
        raise DataError(f"the exposure '{x.name}' takes a single value ({values[0] if len(values) else 'none'}) among "
                        "the subjects with data: no effect can be estimated.")
    return "binary" if set(values) <= {0.0, 1.0} else "continuous"


def survival_frame(outcome, what: str = "outcome") -> pd.DataFrame:
    """A validated (time, event) frame: ``time`` > 0 and finite, ``event`` 0/1 (NaN = missing).

    Raises DataError naming the column or subject at fault."""
    if not isinstance(outcome, pd.DataFrame):
        raise DataError(f"a survival {what} must be a DataFrame with columns {list(SURVIVAL_COLUMNS)} (time to event "
                        f"or censoring, and 1 = event observed / 0 = censored), got {type(outcome).__name__}.")
    missing = [c for c in SURVIVAL_COLUMNS if c not in outcome.columns]
    if missing:
        raise DataError(f"the survival {what} lacks column(s) {missing}; it has {list(outcome.columns)}. Rename "
                        "them to 'time' (follow-up) and 'event' (1 = event, 0 = censored).")
    out = outcome[list(SURVIVAL_COLUMNS)].copy()
    out.index = normalise_ids(outcome.index, what)
    time, event = _numeric(out["time"], f"{what} time"), _numeric(out["event"], f"{what} event")
    bad = time.notna() & ~(time > 0)
    if bad.any():
        raise DataError(f"the survival {what} has a time <= 0 for subject '{bad.idxmax()}' ({time[bad.idxmax()]}); "
                        "times must be positive (add half a day to events on day 0).")
    bad = event.notna() & ~event.isin([0.0, 1.0])
    if bad.any():
        raise DataError(f"the survival {what} has an event value other than 0/1 for subject '{bad.idxmax()}' "
                        f"({event[bad.idxmax()]}).")
    return pd.DataFrame({"time": time, "event": event})


def encode_confounders(confounders) -> pd.DataFrame | None:
    """Numeric confounders (categorical one-hot encoded, first level dropped), raw scale; None for none."""
    if confounders is None:
        return None
    if isinstance(confounders, pd.Series):
        confounders = confounders.to_frame()
    if not isinstance(confounders, pd.DataFrame):
        raise DataError(f"confounders must be a DataFrame indexed by subject ID, got {type(confounders).__name__}.")
    if confounders.shape[1] == 0:
        return None
    frame = confounders.copy()
    frame.index = normalise_ids(confounders.index, "confounders")
    return frame


def _drop_warning(what: str, dropped: list) -> None:
    if dropped:
        warnings.warn(f"{len(dropped)} subject(s) without {what} left out of the mediation analysis, e.g. "
                      f"'{dropped[0]}'.", DataWarning, stacklevel=4)


def mediation_inputs(subjects, exposure, outcome, confounders, outcome_kind: str, *,
                     keep_missing_outcome: bool) -> MediationInputs:
    """Check, align and encode the inputs of a mediation model (see the module docstring).

    Parameters
    ----------
    subjects : the cohort's subject IDs (MultiViewData.subjects).
    exposure : Series (subject) numeric: 0/1 or continuous.
    outcome : Series (subject) for 'gaussian'/'bernoulli'; DataFrame (subject; time, event) for 'survival'.
    confounders : DataFrame (subject, confounder) or None.
    outcome_kind : 'gaussian', 'bernoulli' or 'survival'.
    keep_missing_outcome : keep subjects without the outcome (masked) instead of dropping them.

    Raises
    ------
    DataError  for non-numeric or constant exposures, a bernoulli outcome other than 0/1, a survival
        outcome without time/event columns or with a time <= 0, no subject shared with the cohort.
    """
    if outcome_kind not in OUTCOMES:
        raise DataError(f"unknown outcome '{outcome_kind}'; choose one of {OUTCOMES}.")
    cohort = pd.Index([str(s) for s in subjects])
    x = _numeric(_series(exposure, "exposure"), "exposure")
    name = "outcome"
    if outcome_kind == "survival":
        y_frame = survival_frame(outcome)
    else:
        y_series = _series(outcome, "outcome")
        name = str(y_series.name) if y_series.name is not None else "outcome"
        y_frame = _numeric(y_series, "outcome").to_frame("y")
    conf = encode_confounders(confounders)
    shared = cohort.intersection(x.index, sort=False)
    if len(shared) == 0:
        raise DataError(f"the exposure shares no subject ID with the data (e.g. '{x.index[0]}' vs '{cohort[0]}'); "
                        "index it by the same subject IDs.")
    x = x.reindex(cohort)
    keep = x.notna().to_numpy().copy()
    _drop_warning("the exposure", list(cohort[~keep]))
    if conf is not None:
        conf_all = conf.reindex(cohort)
        has = conf_all.notna().all(axis=1).to_numpy()
        _drop_warning("every confounder", list(cohort[keep & ~has]))
        keep &= has
    y_all = y_frame.reindex(cohort)
    has_y = y_all.notna().all(axis=1).to_numpy()
    if not keep_missing_outcome:
        _drop_warning("the outcome", list(cohort[keep & ~has_y]))
        keep &= has_y
    if not (keep & has_y).any():
        raise DataError("no subject has the exposure, the confounders and the outcome together.")
    kept = cohort[keep]
    x = x.loc[kept]
    kind = exposure_kind(x)
    mean, sd = (0.0, 1.0) if kind == "binary" else (float(x.mean()), float(x.std(ddof=0)))
    y_kept = y_all.loc[kept]
    y, y_mean, y_scale = _outcome_values(y_kept, outcome_kind, name)
    c, c_names = None, ()
    if conf is not None:
        raw = check_covariates(conf.reindex(kept))
        enc = pd.get_dummies(raw, drop_first=True, dtype=float).astype(float) if raw.shape[1] else None
        if enc is not None and enc.shape[1]:
            check_encoded_covariates(enc, None)
            m, s = enc.mean(axis=0), enc.std(axis=0, ddof=0)
            c = ((enc - m) / s.where(s > 0, 1.0)).to_numpy(dtype=float)
            c_names = tuple(str(v) for v in enc.columns)
    return MediationInputs(subjects=tuple(kept), exposure=((x - mean) / sd).to_numpy(dtype=float), exposure_kind=kind,
                           exposure_mean=mean, exposure_sd=sd, outcome=y, outcome_mean=y_mean, outcome_scale=y_scale,
                           outcome_name=name, confounders=c, confounder_names=c_names)


def _outcome_values(frame: pd.DataFrame, kind: str, name: str) -> tuple[np.ndarray, float, float]:
    if kind == "survival":
        t, e = frame["time"].to_numpy(dtype=float), frame["event"].to_numpy(dtype=float)
        ok = ~np.isnan(t) & ~np.isnan(e)
        if not np.any(e[ok] == 1):
            raise DataError("the survival outcome has no event among the analysed subjects: nothing to fit.")
        scale = float(np.median(t[ok]))
        return np.where(ok, np.where(e == 1, t, -t) / scale, np.nan), 0.0, scale
    y = frame["y"].to_numpy(dtype=float)
    ok = ~np.isnan(y)
    if kind == "bernoulli":
        bad = ok & (y != 0) & (y != 1)
        if bad.any():
            raise DataError(f"the bernoulli outcome '{name}' has a value other than 0/1 for subject "
                            f"'{frame.index[np.flatnonzero(bad)[0]]}' ({y[bad][0]}).")
        if len(np.unique(y[ok])) < 2:
            raise DataError(f"the bernoulli outcome '{name}' takes a single value among the analysed subjects.")
        return y, 0.0, 1.0
    mean, sd = float(np.mean(y[ok])), float(np.std(y[ok]))
    if not sd > 0:
        raise DataError(f"the outcome '{name}' is constant among the analysed subjects.")
    return (y - mean) / sd, mean, sd


def outcome_view(inputs: MediationInputs, likelihood: str, name: str = "outcome") -> ViewArrays:
    """The outcome as a one-feature view of the model (masked where missing).

    ``centre`` (the intercept prior's centre on the link scale): 0 for a standardised gaussian outcome,
    the logit of the event rate (bernoulli), the log of the crude hazard rate events / total time
    (survival, in the model's time unit); ``scale`` 1."""
    y = np.asarray(inputs.outcome, dtype=float)
    mask = ~np.isnan(y)
    obs = y[mask]
    if likelihood == "bernoulli":
        p = np.clip(obs.mean(), 0.5 / len(obs), 1 - 0.5 / len(obs))
        centre = float(np.log(p / (1 - p)))
    elif likelihood == "survival":
        centre = float(np.log(np.sum(obs > 0) / np.sum(np.abs(obs))))
    else:
        centre = 0.0
    return ViewArrays(name=name, likelihood=likelihood, y=np.where(mask, y, 0.0)[:, None], mask=mask[:, None],
                      log_offset=np.zeros(len(y)), centre=np.array([centre]), scale=np.ones(1),
                      features=(inputs.outcome_name,))


def check_exposure_not_a_feature(data, views: list[str], exposure) -> None:
    """Raise DataError when the exposure equals a feature of a mediator view (e.g. IDH1 in a mutation
    view): the exposure would then explain its own mediator. ``exposure`` as :func:`mediation_inputs`
    takes it (a Series or a one-column DataFrame indexed by subject ID)."""
    x = _numeric(_series(exposure, "exposure"), "exposure")
    for v in views:
        df = data.views[v]
        shared = df.index.intersection(x.index[x.notna()])
        if len(shared) < 5:
            continue
        xs = x.loc[shared].to_numpy(dtype=float)
        for col in df.columns:
            y = df.loc[shared, col].to_numpy(dtype=float)
            ok = ~np.isnan(y)
            if ok.sum() >= 5 and np.array_equal(y[ok], xs[ok]):
                raise DataError(f"the exposure is also feature '{col}' of view '{v}': the exposure cannot be its own "
                                f"mediator. Drop '{col}' from the view (or leave the view out of the mediators).")
