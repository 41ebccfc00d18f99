"""Unit tables: one row per spatial unit (a spot, a biopsy, a tumour region), the data of ``rgf.SVC``.

A unit table is a DataFrame indexed by unit, e.g. a (subject, region) MultiIndex for multi-region
studies, whose columns hold the response(s), covariates and coordinates. The spec's ``[svc]`` table
names its columns (:func:`svc_inputs`); the data sources that return one are ``unit_table`` (a
user's file) and ``lgg_mri_shells`` (three concentric tumour shells per TCGA-LGG patient).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from rgfactor.data.spatial import SpatialData, unit_labels
from rgfactor.data.tables import read_table
from rgfactor.errors import DataError

SHELLS = ("Region.1", "Region.2", "Region.3")   # inner -> outer, equal volumes (Mohammed et al. 2021)


def unit_table(path, *, file: str, index=None) -> tuple[pd.DataFrame, None]:
    """A user's unit table from one CSV/TSV/Parquet file (the spec source ``unit_table``).

    Parameters
    ----------
    path : folder the file name is relative to.
    file : the table, one row per unit.
    index : column, or list of columns (e.g. ``["patient", "region"]``), identifying a unit
        (default: the first column).

    Returns
    -------
    (table, None): DataFrame indexed by unit; no labels.

    Raises
    ------
    DataError  naming the file and the column at fault (missing file or index column, duplicated units).
    """
    what = "unit table"
    full = Path(file) if Path(file).is_absolute() else Path(path) / file
    cols = [index] if isinstance(index, str) else list(index or [])
    table = read_table(full, what, cols[0] if len(cols) == 1 else None)
    if len(cols) > 1:
        missing = [c for c in cols if c not in table.columns]
        if missing:
            table = table.reset_index()
            missing = [c for c in cols if c not in table.columns]
        if missing:
            raise DataError(f"{what}: file '{full}' has no column(s) {missing} (the `index` columns of units); its "
                            f"columns are {[str(c) for c in table.columns[:12]]}.")
        table = table.set_index(cols)
    dup = table.index[table.index.duplicated()]
    if len(dup):
        label = unit_labels(dup[:1])[0][0]
        raise DataError(f"{what}: file '{full}' has unit '{label}' more than once; `index` must identify a unit.")
    return table, None


def lgg_mri_shells(path, *, genes: str = "all") -> tuple[pd.DataFrame, None]:
    """TCGA-LGG multi-region MRI (Mohammed et al. 2021, arXiv 2106.10941): 63 patients x 3 shells.

    Rows are (patient, shell), shell ``Region.1`` (inner) to ``Region.3`` (outer); columns ``depth``
    (1, 2, 3: the shell's rank from the core, a 1-D coordinate), the shell's MRI principal-component
    scores (``flair.1``, ``t1Gd.2``, ...; NaN where a shell has fewer components) and the patient's
    centred log expression of the 24 driver genes (repeated over its shells).

    Note: the PC scores are computed per shell, so a component is comparable across shells only where
    the shells' scores agree (``flair.1``: correlations 0.96-0.99 across shells; ``t2.1`` flips sign).

    Parameters
    ----------
    path : folder ``lgg_mri_shells``.
    genes : 'all' or a comma-separated list of gene names to keep.

    Raises
    ------
    DataError  for a missing file or an unknown gene.
    """
    path = Path(path)
    expr = read_table(path / "gene_exp_24drivers_63pts.csv", "gene expression")
    if genes != "all":
        keep = [g.strip() for g in str(genes).split(",")]
        unknown = [g for g in keep if g not in expr.columns]
        if unknown:
            raise DataError(f"lgg_mri_shells: gene(s) {unknown} not in the 24 drivers {list(expr.columns)}.")
        expr = expr[keep]
    parts = []
    for depth, shell in enumerate(SHELLS, start=1):
        pcs = read_table(path / f"mri_pc_scores_{shell}.csv", f"MRI scores of {shell}")
        part = pd.concat([pd.Series(float(depth), index=pcs.index, name="depth"), pcs,
                          expr.reindex(pcs.index)], axis=1)
        part.index = pd.MultiIndex.from_arrays([part.index.astype(str), [shell] * len(part)],
                                               names=["patient", "shell"])
        parts.append(part)
    return pd.concat(parts).sort_index(level=["patient", "shell"]), None


def table_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 (hex) of a unit table's values, unit IDs and column names (a run's data hash)."""
    h = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    h.update("|".join(map(str, table.columns)).encode())
    return h.hexdigest()


def _columns(table: pd.DataFrame, key: str, names) -> pd.DataFrame:
    """The columns (or index levels) ``names`` of ``table``, for the ``[svc]`` key ``key``."""
    names = [names] if isinstance(names, str) else list(names)
    levels = [n for n in table.index.names if n is not None]
    out = {}
    for n in names:
        if n in table.columns:
            out[n] = table[n]
        elif n in levels:
            out[n] = pd.Series(table.index.get_level_values(n), index=table.index, name=n)
        else:
            raise DataError(f"[svc] `{key}` names '{n}', which is neither a column nor an index level of the unit "
                            f"table (index levels {levels}; columns {[str(c) for c in table.columns[:15]]}"
                            f"{' ...' if table.shape[1] > 15 else ''}).")
    return pd.DataFrame(out, index=table.index)


def svc_inputs(table, *, response: str, coordinates, covariates=(), groups: str | None = None,
               offset: str | None = None, likelihood: str = "gaussian") -> tuple[SpatialData, pd.Series | None]:
    """The inputs of one ``rgf.SVC`` fit, picked from a unit table by column (or index level) name.

    Returns
    -------
    (SpatialData with one response column, offset Series or None).

    Raises
    ------
    DataError  when the data are not a unit table, or a key names a column that does not exist
        (the message names the ``[svc]`` key and lists the columns).
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"structure 'SVC' needs a data source that returns a unit table (one row per unit: "
                        f"'unit_table', 'lgg_mri_shells'); this source returned {type(table).__name__}.")
    if not isinstance(response, str):
        raise DataError(f"[svc] `response` must be one column name (one SVC per response), got {response!r}.")
    group = _columns(table, "groups", groups).iloc[:, 0] if groups else None
    off = _columns(table, "offset", offset).iloc[:, 0] if offset else None
    data = SpatialData(responses=_columns(table, "response", response),
                       covariates=_columns(table, "covariates", covariates),
                       coordinates=_columns(table, "coordinates", coordinates), groups=group, likelihood=likelihood)
    return data, off


LOADERS = {"lgg_mri_shells": lgg_mri_shells, "unit_table": unit_table}
