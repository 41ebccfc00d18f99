"""Inputs of the spatially varying coefficient model: a response, covariates and coordinates per unit.

A *unit* is one row: a spot, a voxel, a biopsy or a tumour region. Units may be nested in subjects
(several regions of one tumour): ``groups`` maps each unit to its subject. Every check names the
unit, covariate or coordinate at fault; nothing passed is modified.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rgfactor.data.kinds import data_kind
from rgfactor.errors import DataError, DataWarning

INTERCEPT = "intercept"
MAX_COORDINATES = 3
# distinct locations below which no surface can be estimated: 3 tell a curve (e.g. core, middle, rim
# shells of a tumour) from a line; 2 give one difference only (fit an interaction term instead)
MIN_LOCATIONS = 3
UNIT_SEPARATOR = "/"


@dataclass(frozen=True)
class SpatialData:
    """Several responses sharing covariates, coordinates and groups (the model zoo's multi-region sources).

    Attributes
    ----------
    responses : DataFrame (unit, response): one SVC is fitted per column.
    covariates : DataFrame (unit, covariate).
    coordinates : DataFrame (unit, coordinate), 1-3 columns.
    groups : Series (unit -> subject) or None.
    likelihood : likelihood of every response.
    """

    responses: pd.DataFrame
    covariates: pd.DataFrame
    coordinates: pd.DataFrame
    groups: pd.Series | None = None
    likelihood: str = "gaussian"


@dataclass(frozen=True)
class SpatialArrays:
    """Validated arrays of one SVC fit, in the order of ``units``.

    Attributes
    ----------
    y : (n,) response, NaN where missing (left out of the likelihood).
    design : (n, J) intercept column then the covariates, as given.
    coords : (n, D) coordinates, as given.
    offset : (n,) log offset of count responses (0 otherwise).
    group : (n,) int subject code, or None.
    units, terms, coordinate_names, group_labels : labels; ``unit_levels`` holds the levels of a
        MultiIndex of units (e.g. subject and region), else {}.
    """

    y: np.ndarray
    design: np.ndarray
    coords: np.ndarray
    offset: np.ndarray
    group: np.ndarray | None
    units: list
    terms: list
    coordinate_names: list
    group_labels: list
    unit_levels: dict
    likelihood: str

    @property
    def mask(self) -> np.ndarray:
        return ~np.isnan(self.y)

    @property
    def n_units(self) -> int:
        return len(self.units)


def unit_labels(index: pd.Index) -> tuple[list[str], dict]:
    """String labels of units ('TCGA-CS-4942/Region.1' for a MultiIndex) and the levels of a MultiIndex."""
    if isinstance(index, pd.MultiIndex):
        names = [str(n) if n is not None else f"level_{i}" for i, n in enumerate(index.names)]
        levels = {n: [str(v) for v in index.get_level_values(i)] for i, n in enumerate(names)}
        return [UNIT_SEPARATOR.join(str(v) for v in t) for t in index], levels
    return [str(v) for v in index], {}


def describe_unit(index: pd.Index, label) -> str:
    """'unit 'u3'' or, for a (subject, region) MultiIndex, "subject 'TCGA-1', region 'rim'" (level names)."""
    if isinstance(index, pd.MultiIndex) and isinstance(label, tuple):
        names = [str(n) if n is not None else f"level_{i}" for i, n in enumerate(index.names)]
        return ", ".join(f"{n} {v!r}" for n, v in zip(names, label))
    return f"unit {label!r}"


def _frame(obj, what: str, example: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        return obj.to_frame(name=str(obj.name) if obj.name is not None else what)
    if not isinstance(obj, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame indexed by unit ({example}), got {type(obj).__name__}.")
    return obj


def _check_index(df: pd.DataFrame, what: str) -> None:
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise DataError(f"{what} has duplicated unit IDs, e.g. {describe_unit(df.index, dup[0])}; each unit must appear once.")


def _numeric(df: pd.DataFrame, what: str, column_kind: str) -> np.ndarray:
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise DataError(f"{what}: {column_kind} '{c}' is not numeric (dtype {df[c].dtype}); encode it as numbers.")
    x = df.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"{what}: {describe_unit(df.index, df.index[i])}, {column_kind} '{df.columns[j]}' is {x[i, j]}; "
                        f"{what} must be finite for every unit (drop the unit or fill the value).")
    return x


def _aligned(df: pd.DataFrame, index: pd.Index, what: str) -> pd.DataFrame:
    missing = index.difference(df.index)
    if len(missing):
        raise DataError(f"{what} has no row for {len(missing)} unit(s) of y, e.g. {describe_unit(index, missing[0])}; "
                        "y, X, coordinates (and groups) must be indexed by the same units.")
    extra = df.index.difference(index)
    if len(extra):
        raise DataError(f"{what} has {len(extra)} unit(s) that y lacks, e.g. {describe_unit(df.index, extra[0])}; "
                        "y, X, coordinates (and groups) must be indexed by the same units.")
    return df.reindex(index)


def check_coordinates(coords: pd.DataFrame, what: str = "coordinates", *, training: bool = True) -> np.ndarray:
    """(n, D) finite coordinates; 1 to 3 numeric columns; in training, none constant and at least
    :data:`MIN_LOCATIONS` distinct locations.

    Raises
    ------
    DataError  naming the coordinate or unit at fault.
    """
    d = coords.shape[1]
    if not 1 <= d <= MAX_COORDINATES:
        raise DataError(f"{what} has {d} columns {list(coords.columns)}; the spatially varying coefficient model "
                        f"takes 1 to {MAX_COORDINATES} coordinates (x/y/z, depth, time).")
    x = _numeric(coords, what, "coordinate")
    if training:
        flat = [c for c, r in zip(coords.columns, np.ptp(x, axis=0)) if r <= 0]
        if flat:
            raise DataError(f"{what}: coordinate '{flat[0]}' takes one value for every unit; drop it (a surface "
                            "cannot vary along a constant coordinate).")
        n_loc = len(np.unique(x, axis=0))
        if n_loc < MIN_LOCATIONS:
            raise DataError(f"{what}: the units lie at only {n_loc} distinct location(s); a spatially varying "
                            f"coefficient needs at least {MIN_LOCATIONS} (fit a plain regression instead).")
    return x


def spatial_arrays(y, X, coordinates, *, groups=None, offset=None, likelihood: str = "gaussian") -> SpatialArrays:
    """Validate the inputs of ``SVC.fit`` and return them as arrays in the order of ``y``'s units.

    Parameters
    ----------
    y : Series (unit); NaN marks a missing response (left out of the likelihood, surfaces still estimated).
    X : DataFrame (unit, covariate) of numeric covariates, or None (intercept only).
    coordinates : DataFrame (unit, coordinate), 1-3 numeric columns.
    groups : optional Series (unit -> subject label).
    offset : optional Series (unit) of log offsets (count likelihoods: log size factor or exposure).
    likelihood : likelihood name; count likelihoods need non-negative integers, bernoulli 0/1.

    Raises
    ------
    DataError  naming the unit, covariate or coordinate at fault: wrong types, duplicated or mismatched
        unit IDs, NaN/inf in X, coordinates, groups or offset, 0 or more than 3 coordinates, a constant
        coordinate or covariate, a covariate named 'intercept', values the likelihood cannot take.
    """
    if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        y = y.iloc[:, 0]
    if not isinstance(y, pd.Series):
        raise DataError(f"y must be a pandas Series indexed by unit, got {type(y).__name__}.")
    if len(y) == 0:
        raise DataError("y is empty.")
    _check_index(y.to_frame(), "y")
    index = y.index
    if not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"y is not numeric (dtype {y.dtype}).")
    yv = y.to_numpy(dtype=float, na_value=np.nan)
    obs = ~np.isnan(yv)
    if not obs.any():
        raise DataError("y has no observed value (all NaN).")
    if np.isinf(yv).any():
        raise DataError(f"y is infinite for {describe_unit(index, index[np.flatnonzero(np.isinf(yv))[0]])}.")
    kind = data_kind(likelihood)
    if kind == "count":
        bad = obs & ((yv < 0) | (np.abs(yv - np.round(yv)) > 1e-8))
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise DataError(f"y ({likelihood}) must hold non-negative integer counts; {describe_unit(index, index[i])} has {yv[i]}.")
    elif kind == "binary":
        bad = obs & (yv != 0) & (yv != 1)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise DataError(f"y ({likelihood}) must be 0/1; {describe_unit(index, index[i])} has {yv[i]}.")
    if (~obs).any():
        warnings.warn(f"y is missing for {int((~obs).sum())} unit(s), e.g. {describe_unit(index, index[np.flatnonzero(~obs)[0]])}: "
                      "left out of the likelihood; their surfaces are still estimated.", DataWarning, stacklevel=3)

    if X is None:
        X = pd.DataFrame(index=index)
    X = _frame(X, "X", "columns = covariates")
    _check_index(X, "X")
    if INTERCEPT in [str(c) for c in X.columns]:
        raise DataError(f"X has a column named '{INTERCEPT}'; the intercept is added by the model, drop that column.")
    dupc = X.columns[X.columns.duplicated()]
    if len(dupc):
        raise DataError(f"X has duplicated covariate names, e.g. '{dupc[0]}'.")
    X = _aligned(X, index, "X")
    xv = _numeric(X, "X", "covariate")
    const = [c for c, r in zip(X.columns, np.ptp(xv, axis=0) if len(xv) else []) if r <= 0]
    if const:
        raise DataError(f"X: covariate '{const[0]}' is constant over the units; it duplicates the intercept. Drop it.")

    coords = _frame(coordinates, "coordinates", "columns = x/y or depth")
    _check_index(coords, "coordinates")
    coords = _aligned(coords, index, "coordinates")
    cv = check_coordinates(coords)

    group, group_labels = None, []
    if groups is not None:
        if not isinstance(groups, pd.Series):
            raise DataError(f"groups must be a pandas Series (unit -> subject), got {type(groups).__name__}.")
        _check_index(groups.to_frame(), "groups")
        g = _aligned(groups.to_frame(), index, "groups").iloc[:, 0]
        if g.isna().any():
            raise DataError(f"groups is NaN for {describe_unit(g.index, g.index[np.flatnonzero(g.isna().to_numpy())[0]])}; "
                            "every unit needs its subject.")
        codes, uniques = pd.factorize(g.astype(str), sort=False)
        group, group_labels = codes.astype(np.int32), [str(u) for u in uniques]

    off = np.zeros(len(index))
    if offset is not None:
        if not isinstance(offset, pd.Series):
            raise DataError(f"offset must be a pandas Series (unit -> log offset), got {type(offset).__name__}.")
        _check_index(offset.to_frame(), "offset")
        off = _numeric(_aligned(offset.to_frame(), index, "offset"), "offset", "column")[:, 0]

    units, levels = unit_labels(index)
    design = np.column_stack([np.ones(len(index)), xv]) if xv.size else np.ones((len(index), 1))
    return SpatialArrays(y=yv, design=design, coords=cv, offset=off, group=group, units=units,
                         terms=[INTERCEPT] + [str(c) for c in X.columns], coordinate_names=[str(c) for c in coords.columns],
                         group_labels=group_labels, unit_levels=levels, likelihood=likelihood)


def new_unit_arrays(X_new, coordinates_new, *, terms: list, coordinate_names: list, offset=None):
    """Validated design (n, J), coordinates (n, D), offset (n,) and unit labels of new units.

    Raises
    ------
    DataError  when a fitted covariate or coordinate is missing, values are not finite, or the units
        of X_new and coordinates_new differ.
    """
    coords = _frame(coordinates_new, "coordinates_new", "columns = the fitted coordinates")
    _check_index(coords, "coordinates_new")
    index = coords.index
    missing = [c for c in coordinate_names if c not in [str(k) for k in coords.columns]]
    if missing:
        raise DataError(f"coordinates_new lacks the fitted coordinate '{missing[0]}' (fitted: {coordinate_names}).")
    coords = coords.set_axis([str(c) for c in coords.columns], axis=1)[coordinate_names]
    cv = check_coordinates(coords, "coordinates_new", training=False)
    covariates = terms[1:]
    if X_new is None:
        X_new = pd.DataFrame(index=index)
    X_new = _frame(X_new, "X_new", "columns = the fitted covariates")
    _check_index(X_new, "X_new")
    X_new = X_new.set_axis([str(c) for c in X_new.columns], axis=1)
    lacking = [c for c in covariates if c not in X_new.columns]
    if lacking:
        raise DataError(f"X_new lacks the fitted covariate '{lacking[0]}' (fitted: {covariates}).")
    X_new = _aligned(X_new[covariates], index, "X_new")
    xv = _numeric(X_new, "X_new", "covariate")
    design = np.column_stack([np.ones(len(index)), xv]) if covariates else np.ones((len(index), 1))
    off = np.zeros(len(index))
    if offset is not None:
        off = _numeric(_aligned(_frame(offset, "offset", "unit -> log offset"), index, "offset"), "offset", "column")[:, 0]
    units, levels = unit_labels(index)
    return design, cv, off, units, levels
