"""Checks of user data; every failure names the view, feature or subject at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.kinds import DATA_KINDS, data_kind
from rgfactor.errors import DataError


def _first_bad(df: pd.DataFrame, bad: np.ndarray) -> tuple[str, str, object]:
    i, j = np.argwhere(bad)[0]
    return str(df.index[i]), str(df.columns[j]), df.iat[i, j]


def check_likelihoods(views: dict, likelihoods: dict) -> None:
    if not views:
        raise DataError("no views given: pass a dict {view name: DataFrame}.")
    for name in views:
        if name not in likelihoods:
            raise DataError(f"view '{name}' has no likelihood; add likelihoods['{name}'] = one of {sorted(DATA_KINDS)}.")
    for name, lik in likelihoods.items():
        if name not in views:
            raise DataError(f"likelihood given for unknown view '{name}'; views are {list(views)}.")
        if lik not in DATA_KINDS:
            raise DataError(f"view '{name}': unknown likelihood '{lik}'; choose one of {sorted(DATA_KINDS)}.")


def value_dtype(df: pd.DataFrame) -> type:
    """float32 when every column is float32 (a large cohort held in single precision stays so, half the
    memory of float64), else float64."""
    return np.float32 if len(df.columns) and all(t == np.float32 for t in df.dtypes) else np.float64


def check_view(name: str, likelihood: str, df: pd.DataFrame) -> np.ndarray:
    """Validate one view and return its values as a float array (NaN = missing): float32 when every
    column is float32 (:func:`value_dtype`), else float64.

    Raises
    ------
    DataError  for an empty view, duplicated subject or feature IDs, non-numeric columns, inf,
        negative or non-integer counts (count views), values other than 0/1 (bernoulli views).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"view '{name}' must be a pandas DataFrame indexed by subject ID, got {type(df).__name__}.")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"view '{name}' is empty (shape {df.shape}).")
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise DataError(f"view '{name}' has duplicated subject IDs, e.g. '{dup[0]}'. Each subject must appear once.")
    if df.index.isna().any():
        raise DataError(f"view '{name}' has a missing (NaN) subject ID.")
    dupf = df.columns[df.columns.duplicated()]
    if len(dupf):
        raise DataError(f"view '{name}' has duplicated feature names, e.g. '{dupf[0]}'.")
    nonnum = [(c, t) for c, t in df.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]   # no column copies
    if nonnum:
        raise DataError(f"view '{name}' has non-numeric feature '{nonnum[0][0]}' (dtype {nonnum[0][1]}); "
                        "encode it numerically or move it to covariates.")
    x = df.to_numpy(dtype=value_dtype(df), na_value=np.nan)
    inf = np.isinf(x)
    if inf.any():
        s, f, v = _first_bad(df, inf)
        raise DataError(f"view '{name}' has an infinite value: subject '{s}', feature '{f}' = {v}.")
    obs = ~np.isnan(x)
    kind = data_kind(likelihood)
    if kind == "survival":
        raise DataError(f"view '{name}': a '{likelihood}' likelihood models a time-to-event outcome, not a view; "
                        "pass it as rgf.Mediation(outcome='survival').fit(data, outcome=frame with time and "
                        "event columns).")
    if kind == "count":
        neg = obs & (x < 0)
        if neg.any():
            s, f, v = _first_bad(df, neg)
            raise DataError(f"view '{name}' ({likelihood}) has negative counts, e.g. subject '{s}', feature '{f}' = {v}.")
        frac = obs & (np.abs(x - np.round(x)) > 1e-8)
        if frac.any():
            s, f, v = _first_bad(df, frac)
            raise DataError(f"view '{name}' ({likelihood}) has non-integer values, e.g. subject '{s}', feature '{f}' "
                            f"= {v}. Round RSEM expected counts first, or declare the view 'gaussian'.")
    if kind == "binary":
        bad = obs & (x != 0) & (x != 1)
        if bad.any():
            s, f, v = _first_bad(df, bad)
            raise DataError(f"view '{name}' ({likelihood}) has a value other than 0/1: subject '{s}', feature '{f}' = {v}.")
    return x


def check_shared_subjects(subject_sets: dict[str, set]) -> None:
    """Raise when there are several views but no two of them share a subject."""
    names = list(subject_sets)
    if len(names) < 2:
        return
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            if subject_sets[names[a]] & subject_sets[names[b]]:
                return
    raise DataError(f"no subject is shared by any two views ({names}); check that the DataFrames are indexed "
                    "by the same subject IDs (e.g. 'TCGA-CS-4941' vs 'TCGA_CS_4941').")


def check_subject_labels(kind: str, series_index: pd.Index, values: pd.DataFrame | pd.Series,
                         subjects: pd.Index) -> None:
    """Raise if ``values`` (site or covariates) lack an entry for some subject."""
    dup = series_index[series_index.duplicated()]
    if len(dup):
        raise DataError(f"{kind} has duplicated subject IDs, e.g. '{dup[0]}'.")
    missing = subjects.difference(series_index)
    if len(missing):
        raise DataError(f"{kind} is missing for {len(missing)} subject(s), e.g. '{missing[0]}'. "
                        f"Give a {kind} value for every subject of the views, or drop those subjects.")
    aligned = values.reindex(subjects)
    na = aligned.isna() if isinstance(aligned, pd.Series) else aligned.isna().any(axis=1)
    if na.any():
        raise DataError(f"{kind} is NaN for {int(na.sum())} subject(s), e.g. '{subjects[np.flatnonzero(na.to_numpy())[0]]}'.")
