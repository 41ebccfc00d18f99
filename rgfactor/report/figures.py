"""Report figures, built on :class:`matplotlib.figure.Figure` objects.

No pyplot: nothing global (backend, figure manager, rcParams) is changed, and figures are
freed when they go out of scope. Every function returns the Figure; :func:`save_figure`
writes it as PNG.
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


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG to ``path`` (parent folders created). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
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
                        max_categories: int = 10) -> Figure:
    """Scatter of two factors, subjects coloured by one label (missing labels in grey).

    Parameters
    ----------
    factors : DataArray, dims (subject, factor).
    labels : DataFrame, index = subject IDs; aligned on the subjects shared with ``factors``.
    label : column of ``labels``. Categorical/binary labels get a legend, continuous ones a
        colorbar (kinds as in :func:`rgfactor.report.tables.label_kind`).
    x, y : factor coordinates. With ``y=None`` (or when ``factors`` has one factor) the plot is
        a strip plot of factor ``x`` by label level (continuous label: factor ``x`` vs label).

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
    ax.set_title(f"{x}" + (f" vs {y}" if y else "") + f" by {label}", fontsize=10)
    return fig


def plot_elbo(elbo: np.ndarray, *, ylabel: str = "loss (-ELBO)") -> Figure:
    """Optimisation trace, full run (symlog y) with an inset zoom on the last 90% of steps.

    Parameters
    ----------
    elbo : (n_steps,) ELBO or loss per step, as recorded; non-finite values are not drawn.
    """
    e = np.asarray(elbo, dtype=float).ravel()
    if e.size == 0:
        raise DataError("the ELBO trace is empty; nothing to plot.")
    steps = np.arange(1, e.size + 1)
    ok = np.isfinite(e)
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.plot(steps[ok], e[ok], lw=0.8, color="C0")
    if ok.any():
        span = np.nanmax(np.abs(e[ok]))
        ax.set_yscale("symlog", linthresh=max(span * 1e-3, 1e-12))
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    start = int(0.1 * e.size)
    tail = ok.copy()
    tail[:start] = False
    if e.size >= 20 and tail.sum() >= 2:
        ins = ax.inset_axes([0.45, 0.45, 0.5, 0.45])
        ins.plot(steps[tail], e[tail], lw=0.6, color="C1")
        ins.set_title("last 90%", fontsize=7)
        ins.tick_params(labelsize=6)
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
