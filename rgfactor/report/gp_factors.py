"""The report's section on spatially smooth factors (``factor_prior="gp"``): maps of the factors over
2-D coordinates (one panel per factor, subjects coloured by the posterior-mean factor value), curves
over a 1-D coordinate (posterior means as dots, the interpolated smooth part as a line), and the
smoothness table (per factor: MEFISTO's scale = share of the factor's variance that is spatial, and the
lengthscale, with 95% intervals; CSV + LaTeX).

The front door fills ``ReportInputs.submodels["gp_factors"]`` with plain pandas objects (see
:func:`gp_factors_section`); the section is left out when it is absent. Model page:
docs/models/spatial_factors.md (Velten et al. 2022, Nat Methods 19:179).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rgfactor.report.sections import register_section

MAX_COLUMNS = 4   # panels per row of the factor maps and curves


def _panel_title(factor: str, smoothness: pd.DataFrame | None) -> str:
    if smoothness is None or factor not in smoothness.index:
        return factor
    row = smoothness.loc[factor]
    return f"{factor}: scale {row['scale']:.2f}, lengthscale {row['lengthscale']:.3g}"


def _grid(n_panels: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    n_col = min(n_panels, MAX_COLUMNS)
    n_row = -(-n_panels // n_col)
    fig = Figure(figsize=(width * n_col, height * n_row), layout="constrained")
    axes = fig.subplots(n_row, n_col, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


def plot_factor_maps(factors: pd.DataFrame, coordinates: pd.DataFrame, *,
                     smoothness: pd.DataFrame | None = None) -> Figure:
    """One map per factor over 2-D coordinates: each subject a dot at its location, coloured by its
    posterior-mean factor value (diverging colour map centred at 0, one colour bar per panel).

    Parameters
    ----------
    factors : DataFrame (subject, factor) of posterior means; one panel per column, in column order.
    coordinates : DataFrame (subject, coordinate) with two columns (x, y), aligned on ``factors``' index.
    smoothness : optional :meth:`factor_smoothness` table (index factor): scale and lengthscale in the
        panel titles.
    """
    cx, cy = coordinates.columns[:2]
    xy = coordinates.reindex(factors.index)
    fig, axes = _grid(factors.shape[1], 3.4, 3.1)
    # marker area so that dots about tile the section: ~ (panel width / sqrt(n))^2 in points^2
    size = float(np.clip((200.0 / np.sqrt(max(len(xy), 1))) ** 2, 0.5, 60.0))
    for ax, factor in zip(axes, factors.columns):
        values = factors[factor].to_numpy(dtype=float)
        lim = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
        sc = ax.scatter(xy[cx], xy[cy], c=values, cmap="RdBu_r", vmin=-lim, vmax=lim or 1.0, s=size, lw=0,
                        rasterized=len(xy) > 2000)
        fig.colorbar(sc, ax=ax, shrink=0.85)
        ax.set_title(_panel_title(str(factor), smoothness), fontsize=8)
        ax.set_xlabel(str(cx))
        ax.set_ylabel(str(cy))
        ax.set_aspect("equal", adjustable="box")
    return fig


def plot_factor_curves(factors: pd.DataFrame, coordinates: pd.DataFrame, *, smooth: pd.DataFrame | None = None,
                       smoothness: pd.DataFrame | None = None) -> Figure:
    """One panel per factor over a 1-D coordinate: the subjects' posterior-mean factor values (dots)
    and, when given, the smooth part interpolated on a grid (line).

    Parameters
    ----------
    factors : DataFrame (subject, factor) of posterior means.
    coordinates : DataFrame (subject, coordinate) with one column, aligned on ``factors``' index.
    smooth : optional DataFrame indexed by the coordinate value (grid), one column per factor: the
        posterior mean of the smooth part sqrt(scale_k) f_k at the grid points.
    smoothness : optional :meth:`factor_smoothness` table (panel titles).
    """
    name = coordinates.columns[0]
    x = coordinates.reindex(factors.index)[name].to_numpy(dtype=float)
    fig, axes = _grid(factors.shape[1], 3.2, 2.8)
    for ax, factor in zip(axes, factors.columns):
        ax.scatter(x, factors[factor], s=8 if len(x) > 200 else 16, color="#7f7f7f", alpha=0.7, lw=0,
                   label="subjects (posterior mean)")
        if smooth is not None and factor in smooth.columns:
            ax.plot(smooth.index.to_numpy(dtype=float), smooth[factor], color="#1f4e79", lw=1.8,
                    label="smooth part")
        ax.axhline(0.0, color="#999999", lw=0.8, ls="--")
        ax.set_title(_panel_title(str(factor), smoothness), fontsize=8)
        ax.set_xlabel(str(name))
    axes[0].set_ylabel("factor value")
    axes[0].legend(fontsize=7, frameon=False)
    return fig


@register_section("gp_factors", "Spatially smooth factors", order=55, source="""{% import "_macros.html.j2" as m %}
<p>Each factor is the sum of a smooth part over {{ s.coordinates|join(", ") }} (a Gaussian process with
its own lengthscale, in a basis approximation) and an independent part; <i>scale</i> is the share of the
factor's prior variance that is smooth (MEFISTO's scale: 0 = not spatial, 1 = purely smooth) and the
<i>lengthscale</i> (coordinate units) the distance over which the smooth part decorrelates
(docs/models/spatial_factors.md). The lengthscale of a factor with scale near 0 is not identified.
{{ s.n_subjects }} subjects; {{ s.which }}.{% if s.interval_note %} {{ s.interval_note }}{% endif %}</p>
{% if s.figure %}{{ m.figure(s.figure) }}{% else %}<p>No figure: factors over {{ s.coordinates|length }}
coordinates are shown in the table only.</p>{% endif %}
<p>A lengthscale at or below <i>shortest_resolved</i> is not resolved by the basis (warned under
Convergence): refit with a lower lengthscale_range or a larger n_basis.</p>
{{ m.table(s.smoothness) }}""")
def gp_factors_section(ctx) -> dict | None:
    """Factor maps (2-D) or curves (1-D) of the active factors and the smoothness table, when the fit
    has a GP factor prior.

    ``ctx.inputs.submodels["gp_factors"]``: dict with ``coordinates`` (DataFrame (subject, coordinate)),
    ``smoothness`` (DataFrame indexed by factor: :meth:`rgfactor.GFA.factor_smoothness`), optional
    ``smooth`` (1-D only: DataFrame indexed by grid coordinate, one column per factor, the interpolated
    smooth part) and ``method`` (the engine, for the note on its intervals). The factors are
    ``ctx.inputs.factors`` (posterior means).
    """
    gp = ctx.inputs.submodels.get("gp_factors")
    if not gp:
        return None
    coords, smoothness = gp["coordinates"], gp["smoothness"]
    factors = ctx.inputs.factors.transpose("subject", "factor").to_pandas()
    factors.columns = [str(c) for c in factors.columns]
    shown = [f for f in ctx.active_factors if f in factors.columns] or list(factors.columns)
    which = (f"the {len(shown)} active factors are shown" if len(shown) < factors.shape[1]
             else f"all {len(shown)} factors are shown")
    names = [str(c) for c in coords.columns]
    figure = None
    if len(names) == 2:
        figure = ctx.writer.figure(plot_factor_maps(factors[shown], coords, smoothness=smoothness), "factor_maps",
                                   "Factor maps", f"Posterior-mean value of each factor at each subject's location "
                                   f"({names[0]}, {names[1]}); titles: posterior mean scale and lengthscale.")
    elif len(names) == 1:
        smooth = gp.get("smooth")
        figure = ctx.writer.figure(
            plot_factor_curves(factors[shown], coords, smooth=None if smooth is None else smooth[shown],
                               smoothness=smoothness), "factor_curves", "Factor curves",
            f"Posterior-mean value of each factor along {names[0]} (dots) and its interpolated smooth part (line).")
    note = {"cavi": "Intervals of the closed-form engine are those of the scale and lengthscale given the fitted "
                    "factors (grid conditional): narrower than a full posterior's.",
            "svi": "Intervals of SVI are those of the mean-field variational posterior, typically too narrow."
            }.get(gp.get("method"))
    return {"coordinates": names, "n_subjects": len(factors), "which": which, "figure": figure,
            "interval_note": note,
            "smoothness": ctx.writer.table(smoothness, "factor_smoothness", "Smoothness of each factor: scale "
                                           "(share of variance that is spatial) and lengthscale, posterior mean "
                                           "and 95% interval", shown=smoothness.loc[[f for f in smoothness.index
                                                                                     if str(f) in shown]])}
