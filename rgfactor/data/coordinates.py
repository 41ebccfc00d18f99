"""Coordinates of the subjects of a multi-view cohort: the data role of spatially smooth factors.

A *subject* here is whatever a row of the views is: a cell or spot of a tissue section, a region of a
tumour, a time point. ``MultiViewData.from_pandas(..., coordinates=frame)`` takes a DataFrame indexed
by subject with 1-3 numeric columns (x/y/z, depth, time), one row per subject of the views. Every
check names the subject or coordinate at fault; nothing passed is modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.checks import normalise_ids
from rgfactor.errors import DataError

MAX_COORDINATES = 3


def check_coordinate_columns(coordinates: pd.DataFrame) -> None:
    """Raise DataError for 0 or more than 3 columns or a non-numeric column, naming it."""
    d = coordinates.shape[1]
    if not 1 <= d <= MAX_COORDINATES:
        raise DataError(f"coordinates has {d} columns {list(coordinates.columns)}; spatially smooth factors take 1 to "
                        f"{MAX_COORDINATES} coordinates (x/y/z, depth, time).")
    for c in coordinates.columns:
        if not pd.api.types.is_numeric_dtype(coordinates[c]):
            raise DataError(f"coordinates: column '{c}' is not numeric (dtype {coordinates[c].dtype}); encode it as numbers.")


def check_subject_coordinates(coordinates, subjects: pd.Index, *, training: bool = True) -> pd.DataFrame:
    """Validated coordinates (subject, coordinate) as float, in the order of ``subjects``.

    Parameters
    ----------
    coordinates : DataFrame (or Series, one coordinate) indexed by subject ID, 1-3 numeric columns.
    subjects : the cohort's subject IDs (canonical strings).
    training : when True, a coordinate that takes one value for every subject is an error (nothing can
        vary along it; the HSGP box would have zero width).

    Raises
    ------
    DataError  for a non-DataFrame, 0 or more than 3 columns, a non-numeric column, a duplicated,
        missing or extra subject, a NaN/inf coordinate or (training) a constant column, naming the
        subject or column.
    """
    if isinstance(coordinates, pd.Series):
        coordinates = coordinates.to_frame(name=str(coordinates.name) if coordinates.name is not None else "coordinate")
    if not isinstance(coordinates, pd.DataFrame):
        raise DataError("coordinates must be a pandas DataFrame indexed by subject ID with 1-3 numeric columns "
                        f"(x/y, depth, time), got {type(coordinates).__name__}.")
    check_coordinate_columns(coordinates)
    frame = coordinates.set_axis(normalise_ids(coordinates.index, "coordinates"), axis=0)
    missing = subjects.difference(frame.index)
    if len(missing):
        raise DataError(f"coordinates are missing for {len(missing)} subject(s) of the views, e.g. '{missing[0]}'; "
                        "give a location for every subject, or drop those subjects.")
    extra = frame.index.difference(subjects)
    if len(extra):
        raise DataError(f"coordinates has {len(extra)} subject(s) that no view has, e.g. '{extra[0]}'; coordinates "
                        "and views must be indexed by the same subjects.")
    frame = frame.reindex(subjects)
    x = frame.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"coordinates: subject '{subjects[i]}', coordinate '{frame.columns[j]}' is {x[i, j]}; every "
                        "subject needs a finite location (drop the subject or fill the value).")
    if training:
        flat = [c for c, r in zip(frame.columns, np.ptp(x, axis=0)) if r <= 0]
        if flat:
            raise DataError(f"coordinates: column '{flat[0]}' takes one value for every subject; drop it (a factor "
                            "cannot vary smoothly along a constant coordinate).")
    return pd.DataFrame(x, index=subjects, columns=[str(c) for c in frame.columns])
