"""Report figures, built on :class:`matplotlib.figure.Figure` objects.

No pyplot: nothing global (backend, figure manager, rcParams) is changed, and figures are
freed when they go out of scope. Every function returns the Figure; :func:`save_figure`
writes it as PNG (for the page) and PDF (for a manuscript).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rgfactor.dims import FACTOR, VIEW
from rgfactor.errors import DataError
from rgfactor.report.tables import align_labels, label_kind, sorted_levels

MISSING_COLOUR = "0.7"
DPI = 120


LFSR_THRESHOLD = 0.05   # loadings drawn filled when their local false sign rate is below this


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI, pdf: bool = True) -> Path:
    """Write ``fig`` as PNG to ``path`` and, with ``pdf``, as vector PDF beside it (same stem).
    Parent folders are created. Returns the PNG path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # figures use the constrained layout engine: no bbox_inches="tight", which would draw them twice
    fig.savefig(path, dpi=dpi, format="png")
    if pdf:
        fig.savefig(path.with_suffix(".pdf"), format="pdf")
    return path


def plot_variance_explained(ve: xr.DataArray) -> Figure:
    """Heatmap of the fraction of variance explained, views as rows, factors as columns.

    Parameters
    ----------
    ve : DataArray, dims (view, factor), fractions in [0, 1]. Cells are annotated in percent.
    """
    if set(ve.dims) != {VIEW, FACTOR}:
        raise DataError(f"variance explained must have dims ({VIEW!r}, {FACTOR!r}), got {ve.dims}.")
    ve = ve.transpose(VIEW, FACTOR)
    vals = 100.0 * np.asarray(ve.values, dtype=float)
    n_views, n_factors = vals.shape
    fig = Figure(figsize=(max(4.0, 1.8 + 0.75 * n_factors), max(2.6, 1.2 + 0.55 * n_views)),
                 layout="constrained")
    ax = fig.subplots()
    vmax = max(float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0, 1e-9)
    im = ax.imshow(vals, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto")
    for i in range(n_views):
        for j in range(n_factors):
            v = vals[i, j]
            ax.text(j, i, "-" if np.isnan(v) else f"{v:.1f}%", ha="center", va="center",
                    fontsize=8, color="white" if v > 0.6 * vmax else "black")
    ax.set_xticks(range(n_factors), [str(f) for f in ve[FACTOR].values], rotation=45, ha="right")
    ax.set_yticks(range(n_views), [str(v) for v in ve[VIEW].values])
    ax.set_xlabel("factor")
    ax.set_ylabel("view")
    fig.colorbar(im, ax=ax, label="variance explained (%)")
    return fig


def _is(lab: pd.Series, level: object) -> np.ndarray:
    """(n,) bool mask of ``lab == level``; missing entries are False (nullable dtypes too)."""
    return lab.eq(level).fillna(False).to_numpy(dtype=bool)


def _label_colours(lab: pd.Series, kind: str | None, ax, fig) -> np.ndarray:
    """(n, 4) RGBA point colours for a label; adds a legend or a colorbar (continuous)."""
    colours = np.tile(to_rgba(MISSING_COLOUR), (len(lab), 1))
    missing = lab.isna().to_numpy()
    if kind == "continuous":
        x = lab.to_numpy(dtype=float, na_value=np.nan)
        norm = Normalize(np.nanmin(x), np.nanmax(x))
        sm = ScalarMappable(norm=norm, cmap=colormaps["viridis"])
        colours[~missing] = sm.to_rgba(x[~missing])
        fig.colorbar(sm, ax=ax, label=str(lab.name))
        return colours
    handles = []
    levels = sorted_levels(lab)
    cmap = colormaps["tab10" if len(levels) <= 10 else "tab20"]
    for i, level in enumerate(levels):
        colour = cmap(i % cmap.N)
        colours[_is(lab, level) & ~missing] = colour
        handles.append(Line2D([], [], ls="", marker="o", color=colour, label=str(level)))
    if missing.any():
        handles.append(Line2D([], [], ls="", marker="o", color=MISSING_COLOUR, label="missing"))
    if handles:
        ax.legend(handles=handles, title=str(lab.name), fontsize=7, title_fontsize=8,
                  loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return colours


def plot_factor_scatter(factors: xr.DataArray, labels: pd.DataFrame, label: str,
                        x: str = "Factor1", y: str | None = "Factor2", *,
                        max_categories: int = 10, title: str | None = None) -> Figure:
    """Scatter of two factors, subjects coloured by one label (missing labels in grey).

    Parameters
    ----------
    factors : DataArray, dims (subject, factor).
    labels : DataFrame, index = subject IDs; aligned on the subjects shared with ``factors``.
    label : column of ``labels``. Categorical/binary labels get a legend, continuous ones a
        colorbar (kinds as in :func:`rgfactor.report.tables.label_kind`).
    x, y : factor coordinates. With ``y=None`` (or when ``factors`` has one factor) the plot is
        a strip plot of factor ``x`` by label level (continuous label: factor ``x`` vs label).
    title : the axes title (default "<x> vs <y> by <label>").

    Raises
    ------
    DataError  if ``label``, ``x`` or ``y`` is unknown.
    """
    if label not in labels.columns:
        raise DataError(f"label {label!r} is not a column of labels {list(labels.columns)}.")
    z, lab_df = align_labels(factors, labels)
    if y is not None and factors.sizes[FACTOR] == 1:
        y = None
    for f in (x, y):
        if f is not None and f not in z.columns:
            raise DataError(f"factor {f!r} not found; factors are {list(z.columns)}.")
    lab = lab_df[label]
    kind = label_kind(lab, max_categories)
    fig = Figure(figsize=(5.6, 4.2), layout="constrained")
    ax = fig.subplots()
    colours = _label_colours(lab, kind, ax, fig)
    missing = lab.isna().to_numpy()
    if y is not None:
        ax.scatter(z[x], z[y], c=colours, s=14, alpha=0.85, linewidths=0)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    elif kind == "continuous":
        ax.scatter(lab[~missing].to_numpy(dtype=float), z[x][~missing], c=colours[~missing],
                   s=14, alpha=0.85, linewidths=0)
        ax.set_xlabel(str(label))
        ax.set_ylabel(x)
    else:
        levels = sorted_levels(lab) + ([None] if missing.any() else [])
        rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
        for i, level in enumerate(levels):
            sel = missing if level is None else _is(lab, level) & ~missing
            xs = i + rng.uniform(-0.2, 0.2, sel.sum())
            ax.scatter(xs, z[x][sel], c=colours[sel], s=14, alpha=0.85, linewidths=0)
        ax.set_xticks(range(len(levels)),
                      ["missing" if lv is None else str(lv) for lv in levels], rotation=30)
        ax.set_xlabel(str(label))
        ax.set_ylabel(x)
    ax.set_title(title or (f"{x}" + (f" vs {y}" if y else "") + f" by {label}"), fontsize=10)
    return fig


def plot_elbo(elbo: np.ndarray, *, tol: float | None = None, ylabel: str = "ELBO") -> Figure:
    """Convergence of a variational fit: the ELBO per step and its relative change.

    Left: the ELBO (higher is better) on a linear axis; the y-range starts after the first 5% of the
    steps so that the initial climb does not flatten the rest (the full range is in the CSV). Right:
    |ELBO_t - ELBO_(t-1)| / |ELBO_t| on a log axis, with the stopping tolerance ``tol`` when given.

    Parameters
    ----------
    elbo : (n_steps,) ELBO per step (not the loss); non-finite values are not drawn.
    tol : the engine's relative-change tolerance (dashed line).
    ylabel : label of the left axis.

    Raises
    ------
    DataError  if the trace is empty.
    """
    e = np.asarray(elbo, dtype=float).ravel()
    if e.size == 0:
        raise DataError("the ELBO trace is empty; nothing to plot.")
    steps = np.arange(1, e.size + 1)
    ok = np.isfinite(e)
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    ax, ax_rel = fig.subplots(1, 2)
    ax.plot(steps[ok], e[ok], lw=0.9, color="C0")
    start = int(0.05 * e.size)
    tail = e[start:][np.isfinite(e[start:])]
    if tail.size >= 2 and np.ptp(tail) > 0:
        pad = 0.05 * np.ptp(tail)
        ax.set_ylim(tail.min() - pad, tail.max() + pad)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} (higher is better)", fontsize=10)
    if e.size >= 2:
        rel = np.abs(np.diff(e)) / np.maximum(np.abs(e[1:]), 1e-300)
        good = np.isfinite(rel) & (rel > 0)
        ax_rel.plot(steps[1:][good], rel[good], lw=0.7, color="C1")
        ax_rel.set_yscale("log")
        if tol:
            ax_rel.axhline(tol, color="C3", ls="--", lw=1, label=f"tolerance {tol:g}")
            ax_rel.legend(fontsize=7, frameon=False)
    ax_rel.set_xlabel("step")
    ax_rel.set_ylabel("relative change")
    ax_rel.set_title("|change| / |ELBO| per step", fontsize=10)
    return fig


def plot_variance_totals(total: pd.Series) -> Figure:
    """Horizontal bars of the variance explained per view by all factors together.

    Parameters
    ----------
    total : Series view -> fraction in [0, 1]; bars are annotated in percent.
    """
    vals = 100.0 * total.astype(float)
    fig = Figure(figsize=(5.0, max(1.6, 0.9 + 0.45 * len(vals))), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(vals))[::-1]
    ax.barh(pos, vals.to_numpy(), color="C0", alpha=0.85)
    for p, v in zip(pos, vals.to_numpy()):
        ax.text(v, p, f" {v:.1f}%", va="center", fontsize=8)
    ax.set_yticks(pos, [str(v) for v in vals.index])
    ax.set_xlim(0, 112)
    ax.set_xlabel("variance explained by all factors (%)")
    return fig


def _short(text: str, limit: int = 42) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def plot_top_loadings(table: pd.DataFrame, factor: str, *, hdi_prob: float = 0.94) -> Figure:
    """Top loadings of one factor, one panel per view: posterior mean and interval per feature.

    Features with local false sign rate below ``LFSR_THRESHOLD`` are drawn filled, others hollow.

    Parameters
    ----------
    table : long DataFrame with columns view, feature, mean, hdi_low, hdi_high, lfsr (the rows to
        draw, e.g. the top features of each view), for the one factor.
    factor : factor name, for the title.
    hdi_prob : the intervals' mass, for the axis label.

    Raises
    ------
    DataError  if a column is missing or the table is empty.
    """
    need = {"view", "feature", "mean", "hdi_low", "hdi_high", "lfsr"}
    if not need <= set(table.columns) or table.empty:
        raise DataError(f"top-loadings table needs rows and columns {sorted(need)}, has {list(table.columns)}.")
    views = list(dict.fromkeys(table["view"]))
    heights = [max(2, int((table["view"] == v).sum())) for v in views]
    fig = Figure(figsize=(6.4, 0.9 + 0.24 * sum(heights) + 0.5 * len(views)), layout="constrained")
    axes = fig.subplots(len(views), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, view in zip(axes, views):
        t = table[table["view"] == view].iloc[::-1]
        pos = np.arange(len(t))
        sure = t["lfsr"].to_numpy() < LFSR_THRESHOLD
        ax.hlines(pos, t["hdi_low"], t["hdi_high"], color="C0", lw=1.4)
        ax.scatter(t["mean"][sure], pos[sure], color="C0", s=22, zorder=3)
        ax.scatter(t["mean"][~sure], pos[~sure], facecolor="white", edgecolor="C0", s=22, zorder=3)
        ax.axvline(0.0, color="0.5", lw=0.8)
        ax.set_yticks(pos, [_short(str(f)) for f in t["feature"]], fontsize=7)
        ax.set_title(f"{view}", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1].set_xlabel(f"loading (posterior mean, {hdi_prob:.0%} interval); filled: lfsr < {LFSR_THRESHOLD:g}",
                        fontsize=8)
    fig.suptitle(f"{factor}: top loadings", fontsize=10)
    return fig


def plot_rhat_ess(summary: pd.DataFrame | dict, *, r_hat_threshold: float = 1.01,
                  ess_threshold: float = 400.0) -> Figure:
    """Histograms of split R-hat and bulk ESS over all summarised parameters.

    Parameters
    ----------
    summary : DataFrame (or dict of lists) with columns ``r_hat`` and ``ess_bulk``, one row per
        scalar parameter, as from ``arviz.summary``.
    r_hat_threshold, ess_threshold : reference lines (Vehtari et al. 2021, Bayesian Anal
        16:667: R-hat < 1.01 and bulk ESS > 400 for 4 chains).

    Raises
    ------
    DataError  if a column is missing.
    """
    df = pd.DataFrame(summary)
    for col in ("r_hat", "ess_bulk"):
        if col not in df.columns:
            raise DataError(f"summary lacks column {col!r} (has {list(df.columns)}); "
                            "pass arviz.summary(idata) output.")
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    ax_r, ax_e = fig.subplots(1, 2)
    for ax, col, thr, name in ((ax_r, "r_hat", r_hat_threshold, "R-hat"),
                               (ax_e, "ess_bulk", ess_threshold, "bulk ESS")):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=min(30, max(5, v.size // 3)), color="C0", alpha=0.8)
        ax.axvline(thr, color="C3", ls="--", lw=1)
        ax.set_xlabel(name)
        ax.set_ylabel("parameters")
        ax.set_title(f"{name} (n={v.size})", fontsize=10)
    return fig
