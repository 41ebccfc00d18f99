"""Factor-label associations for the report: readable labels, the circular-label rule, site adjustment.

Readable labels
    0/1 codes become names (``level_names`` from the spec's ``[report.levels]``, else "no"/"yes"), other
    integer codes print as integers; the level order of the codes is kept (ordered categoricals), so
    "mutant - wild-type" is the contrast of a 0 = wild-type / 1 = mutant label.
Circular labels
    A label whose values equal a model input feature on every subject where both are observed (up to a
    one-to-one relabelling, e.g. the IDH1 mutation call copied into the labels) is *circular*: the
    factors were fitted to it, so an association with them is guaranteed, not found. The report keeps
    such a label but tests it against factor scores inferred from the *other* views only
    (``model.transform`` on the data without the view holding the feature; computed by the caller),
    and marks the rows. We keep rather than drop it because "do imaging-derived factors carry the
    mutation?" is the radiogenomic question; the remaining optimism (the loadings were learnt with the
    label in the data) is stated in the report, and only subject-level cross-validation removes it.
Site adjustment
    Each row is the linear model factor ~ label + site (site as fixed-effect dummies when a site is
    given), tested with the partial F-test of the label terms (an ANCOVA; exact under Gaussian
    residuals). Scores are standardised per row (mean 0, sd 1 over the tested subjects), so effects are
    in factor-sd units. Effect sizes (column ``effect``, named in ``effect_measure``):

    * binary label: ``d``, the site-adjusted difference in mean factor score, second level minus first
      (column ``contrast``), in factor sd;
    * categorical label: partial eta-squared, (RSS0 - RSS1) / RSS0 of the models without/with the label;
    * continuous label: partial correlation r (sign of the slope), with r^2 the partial eta-squared.

    p-values are Benjamini-Hochberg adjusted over all rows (Benjamini & Hochberg 1995, JRSS B 57:289).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from rgfactor.report.tables import align_labels, label_kind, sorted_levels

ADJUSTED_COLUMNS = ["factor", "label", "kind", "contrast", "scores", "n", "effect", "effect_measure",
                    "statistic", "df", "p_value", "p_adj"]
EFFECT_MEASURES = {
    "binary": "d: site-adjusted mean difference of the factor score (second minus first level), in factor sd",
    "categorical": "partial eta^2: share of the factor-score variance left after site that the label explains",
    "continuous": "partial r: correlation of factor score and label after removing site",
}
ALL_VIEWS = "all views"
MIN_SHARED = 10   # subjects observed in both label and feature before a label can be called circular


def readable_labels(labels: pd.DataFrame, level_names: dict | None = None, *,
                    max_categories: int = 10) -> pd.DataFrame:
    """A copy of ``labels`` with coded categories turned into names (module docstring).

    Parameters
    ----------
    labels : DataFrame, index = subject IDs.
    level_names : optional {label: {code: name}}; codes may be given as numbers or strings ("0").
    max_categories : as :func:`rgfactor.report.tables.label_kind`.

    Returns
    -------
    DataFrame of the same shape; mapped columns are ordered categoricals in code order.
    """
    out = labels.copy()
    level_names = level_names or {}
    for col in out.columns:
        s = out[col]
        kind = label_kind(s, max_categories)
        names = level_names.get(str(col))
        if names is None and (kind not in ("binary", "categorical") or not pd.api.types.is_numeric_dtype(s)
                              or pd.api.types.is_bool_dtype(s)):
            continue
        codes = sorted_levels(s)
        if names is not None:
            lookup = {str(k): str(v) for k, v in names.items()}
            mapping = {c: lookup.get(_code_text(c), _code_text(c)) for c in codes}
        elif set(np.asarray(codes, dtype=float)) <= {0.0, 1.0}:
            mapping = {c: {0.0: "no", 1.0: "yes"}[float(c)] for c in codes}
        else:
            mapping = {c: _code_text(c) for c in codes}
        cats = list(dict.fromkeys(mapping.values()))
        out[col] = pd.Categorical(s.map(mapping), categories=cats, ordered=True)
    return out


def _code_text(code) -> str:
    """1.0 -> '1', 'a' -> 'a'."""
    if isinstance(code, (int, float, np.integer, np.floating)) and float(code).is_integer():
        return str(int(code))
    return str(code)


def find_circular_labels(labels: pd.DataFrame, views: dict[str, pd.DataFrame]) -> dict[str, tuple[str, str]]:
    """Labels that are copies of a model input feature.

    A label is circular when, on the subjects where it and a feature are both observed (at least
    ``MIN_SHARED``), their values correspond one to one (each label value goes with one feature value and
    vice versa), with >= 2 distinct values. Names are not compared: a label named like a feature but
    with other values is not circular, a renamed copy is.

    Parameters
    ----------
    labels : DataFrame, index = subject IDs.
    views : view name -> DataFrame (subject, feature) of the model's input values (raw scale).

    Returns
    -------
    {label: (view, feature)}, the first matching feature of each circular label.
    """
    out = {}
    for col in labels.columns:
        lab = labels[col].dropna()
        if lab.nunique() < 2 or lab.nunique() > 50:
            continue
        for view, df in views.items():
            common = lab.index.intersection(df.index)
            if len(common) < MIN_SHARED:
                continue
            sub = df.loc[common]
            y = lab.loc[common].astype(str).to_numpy()
            n_levels = pd.Series(y).nunique()
            candidates = sub.columns[(sub.nunique() == n_levels) & (sub.notna().sum() >= MIN_SHARED)]
            for feat in candidates:
                x = sub[feat]
                ok = x.notna().to_numpy()
                if pd.Series(y[ok]).nunique() != n_levels:
                    continue
                pairs = pd.DataFrame({"l": y[ok], "f": x[ok].astype(str).to_numpy()}).drop_duplicates()
                if len(pairs) == pairs["l"].nunique() == pairs["f"].nunique() >= 2:
                    out[str(col)] = (str(view), str(feat))
                    break
            if str(col) in out:
                break
    return out


def _design(values: pd.Series, kind: str) -> tuple[np.ndarray, str]:
    """(columns of the label in the linear model, contrast text)."""
    if kind == "continuous":
        x = values.to_numpy(dtype=float)
        sd = x.std()
        return ((x - x.mean()) / (sd if sd > 0 else 1.0))[:, None], "per sd of label"
    levels = sorted_levels(values)
    cols = np.column_stack([values.eq(lv).to_numpy(dtype=float) for lv in levels[1:]])
    contrast = f"{levels[1]} - {levels[0]}" if kind == "binary" else f"{len(levels)} levels"
    return cols, contrast


def _site_design(site: pd.Series) -> np.ndarray:
    """Intercept plus site dummies (first level dropped; a missing site is its own level)."""
    n = len(site)
    s = site.astype(object).where(site.notna(), "missing").astype(str)
    dummies = pd.get_dummies(s, drop_first=True, dtype=float).to_numpy()
    return np.column_stack([np.ones(n), dummies])


def _rss(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray]:
    beta, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ beta
    return float(r @ r), int(rank), beta


def partial_f_test(z: np.ndarray, label_cols: np.ndarray, nuisance: np.ndarray) -> dict:
    """Partial F-test of ``label_cols`` in the linear model z ~ nuisance + label_cols.

    Parameters
    ----------
    z : (n,) outcome (factor scores, standardised by the caller).
    label_cols : (n, q) label design columns.
    nuisance : (n, p) intercept and site dummies.

    Returns
    -------
    dict with statistic (F), df (numerator, denominator), p_value, partial_eta2 = (RSS0 - RSS1) / RSS0
    and coef (the label coefficients); NaN entries when the label adds no rank or no residual df is left.
    """
    rss0, r0, _ = _rss(nuisance, z)
    full = np.column_stack([nuisance, label_cols])
    rss1, r1, beta = _rss(full, z)
    df1, df2 = r1 - r0, len(z) - r1
    if df1 < 1 or df2 < 1 or rss0 <= 0:
        return {"statistic": math.nan, "df": (df1, df2), "p_value": math.nan, "partial_eta2": math.nan,
                "coef": beta[nuisance.shape[1]:]}
    f = ((rss0 - rss1) / df1) / (rss1 / df2) if rss1 > 0 else math.inf
    return {"statistic": float(f), "df": (int(df1), int(df2)), "p_value": float(stats.f.sf(f, df1, df2)),
            "partial_eta2": float(max(rss0 - rss1, 0.0) / rss0), "coef": beta[nuisance.shape[1]:]}


def adjusted_associations(factors: xr.DataArray, labels: pd.DataFrame, *, site: pd.Series | None = None,
                          scores: dict[str, tuple[str, xr.DataArray]] | None = None,
                          max_categories: int = 10) -> pd.DataFrame:
    """Site-adjusted tests of every factor against every label (module docstring).

    Parameters
    ----------
    factors : DataArray (subject, factor), posterior-mean factor scores.
    labels : DataFrame, index = subject IDs (readable levels: :func:`readable_labels`).
    site : optional Series of site labels, index = subject IDs; adds site dummies to every model.
    scores : optional {label: (description, DataArray (subject, factor))}: the factor scores to test
        that label against instead of ``factors`` (circular labels: scores from the other views).
    max_categories : as :func:`rgfactor.report.tables.label_kind`.

    Returns
    -------
    DataFrame with ``ADJUSTED_COLUMNS``, sorted by p_value (NaN last); ``df`` is "q, n - rank".
    ``attrs['skipped']``: labels with < 2 distinct values; ``attrs['site_adjusted']``: bool.

    Raises
    ------
    DataError  if no subject is shared by factors and labels.
    """
    scores = scores or {}
    rows, skipped = [], {}
    for col in labels.columns:
        desc, fac = scores.get(str(col), (ALL_VIEWS, factors))
        z_all, lab_all = align_labels(fac, labels[[col]])
        kind = label_kind(lab_all[col], max_categories)
        if kind is None:
            skipped[str(col)] = "fewer than 2 distinct non-missing values"
            continue
        site_all = None if site is None else site.reindex(z_all.index)
        for f in z_all.columns:
            z = z_all[f].to_numpy(dtype=float)
            ok = lab_all[col].notna().to_numpy() & np.isfinite(z)
            lab = lab_all[col][ok]
            row = dict(factor=str(f), label=str(col), kind=kind, contrast="", scores=desc, n=int(ok.sum()),
                       effect=math.nan, effect_measure=EFFECT_MEASURES[kind].split(":")[0], statistic=math.nan,
                       df="", p_value=math.nan)
            if lab.nunique() >= 2 and np.ptp(z[ok]) > 0:
                zz = (z[ok] - z[ok].mean()) / z[ok].std()
                cols, row["contrast"] = _design(lab, kind)
                nuis = np.ones((len(zz), 1)) if site_all is None else _site_design(site_all[ok])
                res = partial_f_test(zz, cols, nuis)
                eta2 = res["partial_eta2"]
                if kind == "binary":
                    row["effect"] = float(res["coef"][0]) if np.isfinite(res["p_value"]) else math.nan
                elif kind == "categorical":
                    row["effect"] = eta2
                else:
                    row["effect"] = float(np.sign(res["coef"][0]) * math.sqrt(eta2)) if np.isfinite(eta2) else math.nan
                row.update(statistic=res["statistic"], df=f"{res['df'][0]}, {res['df'][1]}", p_value=res["p_value"])
            rows.append(row)
    df = pd.DataFrame(rows, columns=ADJUSTED_COLUMNS[:-1])
    df["p_adj"] = np.nan
    finite = df["p_value"].notna().to_numpy()
    if finite.any():
        df.loc[finite, "p_adj"] = stats.false_discovery_control(df.loc[finite, "p_value"].to_numpy(float), method="bh")
    df = df.sort_values("p_value", kind="stable", na_position="last").reset_index(drop=True)
    df.attrs.update(skipped=skipped, site_adjusted=site is not None)
    return df


def trim_for_print(assoc: pd.DataFrame, *, alpha: float = 0.05, max_rows: int = 15, min_rows: int = 5) -> pd.DataFrame:
    """The rows a printed table shows: those with p_adj < ``alpha`` (at most ``max_rows``), or the
    ``min_rows`` smallest p-values when fewer are significant. Row order is kept."""
    sig = assoc[assoc["p_adj"] < alpha]
    return sig.head(max_rows) if len(sig) >= min_rows else assoc.head(max(min_rows, len(sig)))

