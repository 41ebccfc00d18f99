"""Multi-region data: views whose rows are (subject, region) pairs, beside subject-level views.

A tumour cut into regions (shells, sectors, biopsies) gives region-level measurements (imaging per
shell) next to subject-level ones (gene expression of the whole tumour). ``MultiViewData.from_pandas``
takes a region-level view as a DataFrame indexed by a 2-level (subject, region) MultiIndex and a
subject-level view as usual; ``coordinates`` is then indexed by (subject, region) with 1-3 numeric
columns (e.g. shell depth), the region coordinate the within-subject deviation of the factors is smooth
over (:mod:`rgfactor.generative.region_factors`).

Layout: region labels are shared by the subjects (``Region.1`` ... ``Region.3``) and every region-level
view is held on the full (subject x region) grid in C order (row ``s * n_regions + r``), a pair without
data being an all-NaN row (masked, never imputed). A pair without a coordinate gets the mean coordinate
of its region (it has no data; its factors are the model's interpolation there). Every check names the
view, subject or region at fault; nothing passed is modified.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from rgfactor.data.checks import subject_id
from rgfactor.data.coordinates import check_coordinate_columns
from rgfactor.dims import REGION, SUBJECT
from rgfactor.errors import DataError


def is_region_frame(df) -> bool:
    """True for a DataFrame indexed by a 2-level (subject, region) MultiIndex."""
    return isinstance(df, pd.DataFrame) and df.index.nlevels == 2


def normalise_pairs(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """``df`` (not modified) re-indexed by canonical (subject, region) string pairs.

    Raises
    ------
    DataError  for a missing subject or region label, or a (subject, region) pair given twice.
    """
    idx = df.index
    if idx.nlevels != 2:
        raise DataError(f"{what} must be indexed by (subject, region) (a 2-level MultiIndex), got "
                        f"{idx.nlevels} level(s).")
    subj, reg = idx.get_level_values(0), idx.get_level_values(1)
    if subj.isna().any() or reg.isna().any():
        raise DataError(f"{what} has a missing (NaN) subject or region label.")
    pairs = pd.MultiIndex.from_arrays([[subject_id(s) for s in subj], [str(r) for r in reg]], names=[SUBJECT, REGION])
    dup = pairs[pairs.duplicated()]
    if len(dup):
        raise DataError(f"{what} has subject '{dup[0][0]}', region '{dup[0][1]}' more than once: each (subject, "
                        "region) pair must appear once.")
    return df.set_axis(pairs, axis=0)


def region_grid(region_views: dict, subjects: pd.Index, coordinates) -> tuple[pd.Index, pd.DataFrame]:
    """The regions (labels, in order of first appearance in ``coordinates``) and the coordinates on the
    full (subject x region) grid.

    Parameters
    ----------
    region_views : view name -> DataFrame indexed by canonical (subject, region) pairs.
    subjects : the cohort's subject IDs.
    coordinates : DataFrame indexed by (subject, region) with 1-3 numeric columns, or None.

    Raises
    ------
    DataError  without coordinates, for coordinates not indexed by (subject, region), a subject no view
        has, a region no coordinate is given for, a (subject, region) pair with data but no coordinate,
        a NaN/inf coordinate, or a coordinate constant over all pairs; each naming the pair or column.
    """
    if coordinates is None:
        raise DataError(f"view(s) {sorted(region_views)} are indexed by (subject, region); pass coordinates= "
                        "indexed by (subject, region) with the region coordinate (e.g. shell depth).")
    if isinstance(coordinates, pd.Series):
        coordinates = coordinates.to_frame(name=str(coordinates.name) if coordinates.name is not None else "coordinate")
    if not isinstance(coordinates, pd.DataFrame):
        raise DataError(f"coordinates must be a DataFrame indexed by (subject, region), got {type(coordinates).__name__}.")
    check_coordinate_columns(coordinates)
    frame = normalise_pairs(coordinates, "coordinates")
    extra = frame.index.get_level_values(0).difference(subjects)
    if len(extra):
        raise DataError(f"coordinates has subject '{extra[0]}', which no view has.")
    regions = pd.Index(pd.unique(frame.index.get_level_values(1)), name=REGION)
    x = frame.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        s, r = frame.index[i]
        raise DataError(f"coordinates: subject '{s}', region '{r}', coordinate '{frame.columns[j]}' is {x[i, j]}; "
                        "every (subject, region) pair needs a finite coordinate.")
    flat = [c for c, span in zip(frame.columns, np.ptp(x, axis=0)) if span <= 0]
    if flat:
        raise DataError(f"coordinates: column '{flat[0]}' takes one value for every (subject, region) pair; "
                        "factors cannot vary smoothly along it.")
    for name, df in region_views.items():
        unknown = df.index.get_level_values(1).difference(regions)
        if len(unknown):
            raise DataError(f"view '{name}' has region '{unknown[0]}', for which coordinates give no coordinate "
                            f"(regions: {list(regions)}).")
        observed = df.index[df.notna().any(axis=1).to_numpy()]
        lacking = observed.difference(frame.index)
        if len(lacking):
            raise DataError(f"view '{name}': subject '{lacking[0][0]}', region '{lacking[0][1]}' has data but no "
                            "coordinate; add it to coordinates.")
    grid = pd.MultiIndex.from_product([subjects, regions], names=[SUBJECT, REGION])
    out = frame.reindex(grid)
    fill = frame.groupby(level=1).mean().reindex(regions)
    for c in out.columns:   # pairs without data: their region's mean coordinate
        out[c] = out[c].fillna(pd.Series(np.tile(fill[c].to_numpy(), len(subjects)), index=grid))
    out.columns = [str(c) for c in out.columns]
    return regions, out


def region_means(arrays):
    """``arrays`` (ModelArrays) with every region-level view replaced by its mean over each subject's
    observed regions (a subject-level view): the input of the PCA start of the factors."""
    if not arrays.regions:
        return arrays
    r = len(arrays.regions)
    views = []
    for v in arrays.views:
        if v.level != "region":
            views.append(v)
            continue
        m = v.mask.reshape(-1, r, v.n_features)
        y = np.where(m, v.y.reshape(-1, r, v.n_features), 0.0).sum(1)
        cnt = m.sum(1)
        views.append(replace(v, y=y / np.maximum(cnt, 1), mask=cnt > 0, level="subject",
                             log_offset=v.log_offset.reshape(-1, r).mean(1)))
    return replace(arrays, views=tuple(views))
