"""Result tables: factor-label associations, variance explained, CSV/LaTeX writers.

The report layer only consumes xarray/pandas objects; it never calls inference.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from rgfactor.dims import FACTOR, SUBJECT, VIEW
from rgfactor.errors import DataError, DataWarning

ASSOCIATION_COLUMNS = [
    "factor", "label", "kind", "test", "n", "statistic", "effect", "p_value", "p_adj",
]
_TESTS = {"binary": "mann-whitney-u", "categorical": "kruskal-wallis", "continuous": "spearman"}


def label_kind(values: pd.Series, max_categories: int = 10) -> str | None:
    """Kind of a label column: ``'binary'``, ``'categorical'``, ``'continuous'`` or None.

    Parameters
    ----------
    values : (n_subjects,) label values; NaN/None are ignored.
    max_categories : numeric, integer-valued labels with 3..max_categories distinct values
        are categorical (e.g. tumour grade codes); more values, or non-integer values,
        make a numeric label continuous. Non-numeric labels with >= 3 values are categorical.

    Returns
    -------
    None when fewer than 2 distinct non-missing values remain (the label cannot be tested).
    """
    v = values.dropna()
    n_distinct = v.nunique()
    if n_distinct < 2:
        return None
    if n_distinct == 2:
        return "binary"
    if not pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v):
        return "categorical"
    x = v.to_numpy(dtype=float)
    if n_distinct <= max_categories and np.all(x == np.round(x)):
        return "categorical"
    return "continuous"


def sorted_levels(values: pd.Series) -> list:
    """Distinct non-missing values: in category order for a categorical, else sorted (by their string
    form when not comparable)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna())
        return [c for c in values.cat.categories if c in present]
    levels = list(values.dropna().unique())
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def align_labels(factors: xr.DataArray, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align a (subject, factor) DataArray and a label table on their common subjects.

    Returns
    -------
    (Z, L): Z a DataFrame (n_common, n_factors), L the label rows of the same subjects,
    both indexed by subject ID in the order of ``factors``.

    Raises
    ------
    DataError  if ``factors`` lacks the (subject, factor) dims or no subject is shared.
    """
    if set(factors.dims) != {SUBJECT, FACTOR}:
        raise DataError(f"factors must have dims ({SUBJECT!r}, {FACTOR!r}), got {factors.dims}. "
                        "Pass model.factors_ (posterior mean), not the draws.")
    z = factors.transpose(SUBJECT, FACTOR).to_pandas()
    common = z.index[z.index.isin(labels.index)]
    if len(common) == 0:
        raise DataError(
            f"no subject is shared by factors (e.g. {list(z.index[:3])}) and labels "
            f"(e.g. {list(labels.index[:3])}). Index labels by the same subject IDs.")
    if labels.index.has_duplicates:
        dup = labels.index[labels.index.duplicated()][0]
        raise DataError(f"labels has duplicated subject {dup!r}; keep one row per subject.")
    return z.loc[common], labels.loc[common]


def _test(z: np.ndarray, y: pd.Series, kind: str) -> tuple[float, float, float]:
    """(statistic, effect, p_value) of one factor against one label (NaN-free inputs)."""
    if kind == "continuous":
        rho, p = stats.spearmanr(z, y.to_numpy(dtype=float))
        return float(rho), float(rho), float(p)
    groups = [z[y.eq(g).fillna(False).to_numpy(dtype=bool)] for g in sorted_levels(y)]
    n = len(z)
    if kind == "binary":
        # U of the second (sorted) group: effect > 0 means it has larger factor values.
        u, p = stats.mannwhitneyu(groups[1], groups[0], alternative="two-sided")
        return float(u), float(2.0 * u / (len(groups[0]) * len(groups[1])) - 1.0), float(p)
    h, p = stats.kruskal(*groups)
    # epsilon^2 = H / ((n^2 - 1) / (n + 1)) (Tomczak & Tomczak 2014, Trends Sport Sci 21:19)
    return float(h), float(h / (n - 1)), float(p)


def association_table(factors: xr.DataArray, labels: pd.DataFrame, *,
                      max_categories: int = 10) -> pd.DataFrame:
    """Rank-based tests of every factor against every label column.

    Binary labels: two-sided Mann-Whitney U, effect = rank-biserial correlation
    ``2U/(n1 n2) - 1`` (positive: the second of the sorted values has larger scores).
    Categorical labels: Kruskal-Wallis H, effect = epsilon-squared ``H/(n-1)``.
    Continuous labels: Spearman rho (statistic and effect). Missing labels are dropped per
    test; p-values are Benjamini-Hochberg adjusted over all rows of the table.

    Parameters
    ----------
    factors : DataArray, dims (subject, factor), e.g. ``model.factors_``.
    labels : DataFrame, index = subject IDs (aligned on the subjects shared with ``factors``).
    max_categories : see :func:`label_kind`.

    Returns
    -------
    DataFrame with columns factor, label, kind, test, n, statistic, effect, p_value, p_adj,
    one row per (factor, testable label), sorted by p_value ascending. Labels skipped for
    having < 2 distinct values are listed in ``df.attrs['skipped']`` (label -> reason) and
    announced with a :class:`DataWarning`.

    Raises
    ------
    DataError  if no subject is shared (see :func:`align_labels`).
    """
    z, lab = align_labels(factors, labels)
    rows, skipped = [], {}
    for col in lab.columns:
        kind = label_kind(lab[col], max_categories)
        if kind is None:
            skipped[str(col)] = "fewer than 2 distinct non-missing values"
            continue
        for fac in z.columns:
            ok = lab[col].notna().to_numpy() & np.isfinite(z[fac].to_numpy(dtype=float))
            y, zz = lab[col][ok], z[fac].to_numpy(dtype=float)[ok]
            if y.nunique() < 2 or np.ptp(zz) == 0:
                stat = eff = p = math.nan
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    stat, eff, p = _test(zz, y, kind)
            rows.append(dict(factor=str(fac), label=str(col), kind=kind, test=_TESTS[kind],
                             n=int(ok.sum()), statistic=stat, effect=eff, p_value=p))
    if skipped:
        warnings.warn(f"labels skipped in the association table: {skipped}", DataWarning,
                      stacklevel=2)
    df = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS[:-1])
    df["p_adj"] = np.nan
    finite = df["p_value"].notna().to_numpy()
    if finite.any():
        df.loc[finite, "p_adj"] = stats.false_discovery_control(
            df.loc[finite, "p_value"].to_numpy(dtype=float), method="bh")
    df = df.sort_values("p_value", kind="stable", na_position="last").reset_index(drop=True)
    df.attrs["skipped"] = skipped
    return df


def variance_explained_table(ve: xr.DataArray) -> pd.DataFrame:
    """Fractions of variance explained, views as rows and factors as columns.

    Parameters
    ----------
    ve : DataArray, dims (view, factor), fractions in [0, 1] (``model.variance_explained()``).

    Returns
    -------
    DataFrame (n_views, n_factors + 1); index ``view``; the last column ``total`` is the sum
    over factors (the fraction explained by all factors together when they are uncorrelated).
    """
    if set(ve.dims) != {VIEW, FACTOR}:
        raise DataError(f"variance explained must have dims ({VIEW!r}, {FACTOR!r}), got {ve.dims}.")
    df = ve.transpose(VIEW, FACTOR).to_pandas().astype(float)
    df.columns = [str(c) for c in df.columns]
    df.index = pd.Index([str(v) for v in df.index], name=VIEW)
    df["total"] = df.sum(axis=1)
    return df


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_ESCAPES))


def latex_escape(text: object) -> str:
    """``str(text)`` with LaTeX special characters escaped (``_ % & # $ { } ~ ^ \\ < >``)."""
    return _LATEX_RE.sub(lambda m: _LATEX_ESCAPES[m.group(0)], str(text))


def _latex_cell(v: object, float_format: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "--"
    if isinstance(v, (float, np.floating)):
        return float_format % v
    return latex_escape(v)


def to_latex(df: pd.DataFrame, *, caption: str | None = None, label: str | None = None,
             float_format: str = "%.3g") -> str:
    """A booktabs LaTeX table of ``df`` (no jinja2 needed).

    The index is written as the first column unless it is a default RangeIndex. With a
    caption the tabular is wrapped in a ``table`` environment with ``\\label{tab:<label>}`` (characters
    other than letters, digits and ``: . -`` of ``label`` become ``-``).
    """
    show_index = not isinstance(df.index, pd.RangeIndex)
    cols = ([df.index.name or ""] if show_index else []) + [str(c) for c in df.columns]
    numeric = ([False] if show_index else []) + [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        for c in df.columns]
    lines = [r"\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}",
             r"\toprule", " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for idx, row in zip(df.index, df.itertuples(index=False)):
        cells = ([latex_escape(idx)] if show_index else []) + [
            _latex_cell(v, float_format) for v in row]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption is not None:
        lines = [r"\begin{table}[htbp]", r"\centering", r"\caption{" + latex_escape(caption) + "}"]\
            + ([r"\label{tab:" + re.sub(r"[^A-Za-z0-9:.-]", "-", str(label)) + "}"] if label else []) + lines\
            + [r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, *, caption: str | None = None,
                float_format: str = "%.3g") -> tuple[Path, Path]:
    """Write ``df`` to ``out_dir/name.csv`` (full precision) and ``out_dir/name.tex`` (booktabs).

    The index is written (first CSV column) unless it is a default RangeIndex; read back
    with ``pd.read_csv(path, index_col=0)`` in that case. ``float_format`` applies to .tex only.

    Returns
    -------
    (csv_path, tex_path)

    Raises
    ------
    DataError  if ``name`` is not a plain file stem (letters, digits, ``_ - .``).
    """
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or name.startswith("."):
        raise DataError(f"table name {name!r} must be a plain file stem (letters, digits, _ - .).")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, tex = out / f"{name}.csv", out / f"{name}.tex"
    df.to_csv(csv, index=not isinstance(df.index, pd.RangeIndex))
    tex.write_text(to_latex(df, caption=caption, label=name, float_format=float_format),
                   encoding="utf-8")
    return csv, tex
