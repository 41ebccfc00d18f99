"""A user's own cohort from files: one table per view plus a clinical table (the ``tables`` data source).

A spec names the files in its ``[data]`` table::

    [data]
    source = "tables"
    root = "."                      # relative to the project root; default: the spec file's folder
    path = "my_cohort"              # folder of the files below (absolute file paths also work)

    [data.views.radiomics]
    file = "radiomics.csv"          # .csv, .tsv/.txt/.tab (tab-separated), .parquet/.pq; .gz allowed for text
    likelihood = "gaussian"
    transform = "yeo-johnson"       # gaussian views: "standardize" (default) | "yeo-johnson" | "none"
    index = "Patient"               # column of subject IDs (default: the first column)
    drop = ["case_dir"]             # non-feature columns to leave out

    [data.views.rna]
    file = "counts.tsv.gz"
    likelihood = "negative_binomial"
    orientation = "features_as_rows"  # genes x subjects; default "subjects_as_rows"

    [data.clinical]
    file = "clinical.csv"
    index = "Patient"
    site = "hospital"               # column of site labels (optional)
    covariates = ["age", "sex"]     # columns adjusted for (optional)
    coordinates = ["x", "y"]        # the subjects' positions, 1-3 columns (optional; factor_prior = "gp")
    labels = ["grade", "IDH1"]      # columns for the report's associations (default: every other column)

Every error names the view (or the clinical table), the file and the column at fault.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rgfactor.data.checks import normalise_ids, subject_id
from rgfactor.data.multiview import MultiViewData
from rgfactor.errors import DataError

ORIENTATIONS = ("subjects_as_rows", "features_as_rows")
VIEW_KEYS = {"file", "likelihood", "transform", "orientation", "index", "drop"}
CLINICAL_KEYS = {"file", "index", "site", "covariates", "coordinates", "labels"}
TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".tab": "\t"}
PARQUET = (".parquet", ".pq")


def table_format(path: Path, what: str = "table") -> str:
    """'parquet' or the separator of a text table, from the file name (a trailing .gz/.bz2/.xz/.zip is skipped)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zip"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in PARQUET:
        return "parquet"
    if ext in TEXT_SEPARATORS:
        return TEXT_SEPARATORS[ext]
    raise DataError(f"{what}: file '{path}': unknown table format '{ext or path.name}'; use .csv, .tsv (.txt, .tab) or "
                    ".parquet (text tables may be compressed, e.g. .csv.gz).")


def read_table(path, what: str, index: str | None = None) -> pd.DataFrame:
    """Read one table with its subject (or feature) IDs as the index.

    Parameters
    ----------
    path : file (CSV, TSV or Parquet, by its suffix).
    what : how errors name the table, e.g. "view 'rna'".
    index : column holding the row IDs; default the first column (a Parquet file's stored index, when
        it has one, is used as is).

    Raises
    ------
    DataError  if the file is missing or unreadable, or the ``index`` column does not exist.
    """
    path = Path(path)
    fmt = table_format(path, what)
    if not path.exists():
        raise DataError(f"{what}: file '{path}' not found.")
    try:
        df = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, sep=fmt)
    except Exception as e:   # parser errors of pandas/pyarrow: say which file
        raise DataError(f"{what}: cannot read '{path}' as {'Parquet' if fmt == 'parquet' else 'a text table'}: "
                        f"{e}") from None
    stored_index = not isinstance(df.index, pd.RangeIndex)
    if index is None and stored_index:
        return df
    if stored_index:
        df = df.reset_index()
    if df.shape[1] == 0:
        raise DataError(f"{what}: file '{path}' has no columns.")
    column = df.columns[0] if index is None else index
    if column not in df.columns:
        raise DataError(f"{what}: file '{path}' has no column '{column}' (the `index` column of IDs); its first "
                        f"columns are {[str(c) for c in df.columns[:8]]}.")
    return df.set_index(column)


def _unknown_keys(what: str, given: dict, allowed: set) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise DataError(f"{what}: unknown key(s) {unknown}; allowed: {sorted(allowed)}.")


def _resolve(folder: Path, file) -> Path:
    file = Path(str(file)).expanduser()
    return file if file.is_absolute() else Path(folder) / file


def read_view(folder: Path, name: str, entry: dict) -> tuple[pd.DataFrame, str, str | None]:
    """One view's table as a numeric DataFrame (subject, feature), its likelihood and transform."""
    what = f"view '{name}'"
    if not isinstance(entry, dict):
        raise DataError(f"{what}: expected a table with at least `file` and `likelihood`, got {entry!r}.")
    _unknown_keys(what, entry, VIEW_KEYS)
    for key in ("file", "likelihood"):
        if key not in entry:
            raise DataError(f"{what}: `{key}` is missing (keys: file, likelihood, transform, orientation, index, drop).")
    orientation = entry.get("orientation", "subjects_as_rows")
    if orientation not in ORIENTATIONS:
        raise DataError(f"{what}: orientation must be one of {ORIENTATIONS}, got '{orientation}'.")
    path = _resolve(folder, entry["file"])
    df = read_table(path, what, entry.get("index"))
    drop = list(entry.get("drop", []))
    if orientation == "features_as_rows":
        missing = [d for d in drop if d not in df.index]
        df = df.drop(index=[d for d in drop if d in df.index]).T
    else:
        missing = [d for d in drop if d not in df.columns]
        df = df.drop(columns=[d for d in drop if d in df.columns])
    if missing:
        raise DataError(f"{what}: `drop` names {missing}, not found in '{path}'.")
    numeric = df.apply(pd.to_numeric, errors="coerce")
    bad = [str(c) for c in df.columns if (numeric[c].isna() & df[c].notna()).any()]
    if bad:
        across = "rows" if orientation == "features_as_rows" else "columns"
        raise DataError(f"{what}: {across} {bad[:5]}{' ...' if len(bad) > 5 else ''} of '{path}' are not numeric; "
                        f"list them in `drop`, or set `orientation` (now '{orientation}') if subjects are the "
                        f"{'columns' if orientation == 'subjects_as_rows' else 'rows'}.")
    if numeric.columns.has_duplicates:
        dup = numeric.columns[numeric.columns.duplicated()][0]
        raise DataError(f"{what}: feature '{dup}' appears more than once in '{path}'.")
    numeric.columns = [str(c) for c in numeric.columns]
    return numeric, entry["likelihood"], entry.get("transform")


def read_clinical(folder: Path, entry: dict, subjects: pd.Index):
    """Site Series, covariates, coordinates and labels DataFrames from the clinical table (each None if
    unnamed; labels empty)."""
    what = "clinical table"
    if not isinstance(entry, dict) or "file" not in entry:
        raise DataError(f"{what}: `file` is missing (keys: {sorted(CLINICAL_KEYS)}).")
    _unknown_keys(what, entry, CLINICAL_KEYS)
    path = _resolve(folder, entry["file"])
    clin = read_table(path, what, entry.get("index"))
    clin.index = normalise_ids(clin.index, f"{what} '{path}'")
    site_col = entry.get("site")
    cov_cols = list(entry.get("covariates", []))
    coord_cols = list(entry.get("coordinates", []))
    used = ([site_col] if site_col else []) + cov_cols + coord_cols
    label_cols = list(entry["labels"]) if "labels" in entry else [c for c in clin.columns if c not in used]
    for role, cols in (("site", [site_col] if site_col else []), ("covariates", cov_cols),
                       ("coordinates", coord_cols), ("labels", label_cols)):
        missing = [c for c in cols if c not in clin.columns]
        if missing:
            raise DataError(f"{what}: `{role}` names column(s) {missing}, not in '{path}'; its columns are "
                            f"{[str(c) for c in clin.columns[:12]]}.")
    absent = subjects.difference(clin.index)
    if site_col or cov_cols or coord_cols:
        if len(absent):
            raise DataError(f"{what}: subject(s) {list(absent[:5])} of the views have no row in '{path}' "
                            f"({len(absent)} in all); site, covariates and coordinates are needed for every "
                            "subject.")
    clin = clin.reindex(subjects)
    site = clin[site_col] if site_col else None
    covariates = clin[cov_cols] if cov_cols else None
    coordinates = clin[coord_cols] if coord_cols else None
    labels = clin[label_cols] if label_cols else pd.DataFrame(index=subjects)
    return site, covariates, coordinates, labels


def from_tables(path, *, views: dict, clinical: dict | None = None,
                size_factors: str = "trimmed_ratio") -> tuple[MultiViewData, pd.DataFrame]:
    """Read a cohort from one file per view and an optional clinical table (the spec source ``tables``).

    Parameters
    ----------
    path : folder the file names are relative to (absolute file names are used as they are).
    views : dict view name -> {file, likelihood, transform, orientation, index, drop} (see the module
        docstring). ``orientation`` is 'subjects_as_rows' (default) or 'features_as_rows'.
    clinical : optional {file, index, site, covariates, coordinates, labels}: the named columns become the
        site, the covariates, the subjects' coordinates (``factor_prior="gp"``) and the report's labels.
    size_factors : count views' size factors (see :meth:`~rgfactor.data.multiview.MultiViewData.from_pandas`).

    Returns
    -------
    data : MultiViewData.
    labels : DataFrame (subject, label) for the report's associations (no columns without a clinical table).

    Raises
    ------
    DataError  naming the view or clinical table, the file and the column at fault; the checks of
        :meth:`~rgfactor.data.multiview.MultiViewData.from_pandas` then apply (values per likelihood, subject IDs, site, covariates).
    """
    folder = Path(path) if path is not None else Path(".")
    if not isinstance(views, dict) or not views:
        raise DataError("the `tables` source needs at least one view: [data.views.NAME] with `file` and "
                        "`likelihood`.")
    frames, likelihoods, transforms = {}, {}, {}
    for name, entry in views.items():
        frames[name], likelihoods[name], transform = read_view(folder, name, entry)
        if transform is not None:
            transforms[name] = transform
    order = pd.Index(pd.unique(pd.Index([subject_id(s) for df in frames.values() for s in df.index])))
    site = covariates = coordinates = None
    labels = pd.DataFrame(index=order)
    if clinical:
        site, covariates, coordinates, labels = read_clinical(folder, clinical, order)
    data = MultiViewData.from_pandas(frames, likelihoods, site=site, covariates=covariates, transforms=transforms,
                                     size_factors=size_factors, coordinates=coordinates)
    labels = labels.reindex(data.subjects)
    return data, labels
