"""The report's spatially varying coefficient section: each coefficient surface beta_j(s) with its
95% interval (curves with bands over a 1-D coordinate such as region depth; maps of the posterior mean
and of the interval width over 2-D coordinates), and the ``spatial_variation()`` table (CSV + LaTeX).

The front door fills ``ReportInputs.submodels["svc"]`` with plain pandas objects (see :func:`svc_section`);
the section is left out when it is absent. Model page: docs/models/spatial.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rgfactor.report.sections import register_section

SURFACE_COLUMNS = ("term", "mean", "lower", "upper")


def _locations(surfaces: pd.DataFrame, coordinates: list) -> pd.DataFrame:
    """One row per (location, term): units at the same location share their surface value."""
    return surfaces.drop_duplicates(subset=list(coordinates) + ["term"]).sort_values(list(coordinates))


def plot_surface_curves(surfaces: pd.DataFrame, coordinate: str, *, interval: float = 0.95) -> Figure:
    """One panel per term: posterior mean of beta_j over a 1-D coordinate (line, dots at the observed
    locations) and its pointwise ``interval`` band. ``surfaces``: columns ``coordinate``, term, mean,
    lower, upper (one row per unit or location)."""
    tab = _locations(surfaces, [coordinate])
    terms = list(dict.fromkeys(tab["term"]))
    fig = Figure(figsize=(3.2 * len(terms), 2.9))
    axes = np.atleast_1d(fig.subplots(1, len(terms), squeeze=False)[0])
    for ax, term in zip(axes, terms):
        t = tab[tab["term"] == term]
        x = t[coordinate].to_numpy(float)
        ax.fill_between(x, t["lower"], t["upper"], color="#1f4e79", alpha=0.2, lw=0,
                        label=f"{interval:.0%} interval")
        ax.plot(x, t["mean"], color="#1f4e79", lw=1.6, marker="o" if len(x) <= 30 else None, ms=4,
                label="posterior mean")
        ax.axhline(0.0, color="#999999", lw=0.8, ls="--")
        ax.set_title(str(term), fontsize=9)
        ax.set_xlabel(coordinate)
    axes[0].set_ylabel("coefficient")
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_surface_maps(surfaces: pd.DataFrame, coordinates: list, *, interval: float = 0.95) -> Figure:
    """Per term (rows) two maps over 2-D coordinates: the posterior mean of beta_j and the width of
    its pointwise ``interval`` (upper - lower), one dot per location."""
    cx, cy = coordinates
    tab = _locations(surfaces, coordinates)
    terms = list(dict.fromkeys(tab["term"]))
    fig = Figure(figsize=(7.4, 3.1 * len(terms)))
    axes = fig.subplots(len(terms), 2, squeeze=False)
    n_loc = max(len(tab) / len(terms), 1.0)
    size = float(np.clip((170.0 / np.sqrt(n_loc)) ** 2, 4.0, 400.0))   # marker area: a grid's cells about touch
    for row, term in zip(axes, terms):
        t = tab[tab["term"] == term]
        for ax, values, what, cmap in ((row[0], t["mean"], "posterior mean", "RdBu_r"),
                                       (row[1], t["upper"] - t["lower"], f"{interval:.0%} interval width",
                                        "viridis")):
            if cmap == "RdBu_r":
                lim = float(np.nanmax(np.abs(values))) or 1.0
                sc = ax.scatter(t[cx], t[cy], c=values, cmap=cmap, vmin=-lim, vmax=lim, s=size, marker="s", lw=0)
            else:
                sc = ax.scatter(t[cx], t[cy], c=values, cmap=cmap, s=size, marker="s", lw=0)
            fig.colorbar(sc, ax=ax, shrink=0.85)
            ax.set_title(f"{term}: {what}", fontsize=9)
            ax.set_xlabel(cx)
            ax.set_ylabel(cy)
            ax.set_aspect("equal", adjustable="box")
    fig.tight_layout()
    return fig


@register_section("svc", "Spatially varying coefficients", order=66, source="""{% import "_macros.html.j2" as m %}
<p>Regression of {{ s.response }} on {{ s.terms|join(", ") }} with coefficients that vary over
{{ s.coordinates|join(", ") }}: beta_j(s) = mean_j + GP_j(s), each an HSGP surface with its own lengthscale
and amplitude (docs/models/spatial.md). {{ s.n_units }} units{% if s.n_locations %} at {{ s.n_locations }}
distinct locations{% endif %}. Bands and widths: pointwise {{ s.interval }} posterior intervals.
p_constant: posterior probability that the term's surface is constant (amplitude 0, Savage-Dickey).</p>
{% if s.figure %}{{ m.figure(s.figure) }}{% else %}<p>No figure: surfaces over {{ s.coordinates|length }}
coordinates are given in the table of surfaces only.</p>{% endif %}
{{ m.table(s.variation) }}
{{ m.table(s.surfaces) }}""")
def svc_section(ctx) -> dict | None:
    """Curves (1-D) or maps (2-D) of the surfaces and the spatial-variation table, when the report has them.

    ``ctx.inputs.submodels["svc"]``: dict with ``surfaces`` (DataFrame: one row per unit and term;
    columns the coordinates, term, mean, lower, upper), ``coordinates`` (names), ``spatial_variation``
    (DataFrame, index term: :meth:`rgfactor.svc.SVC.spatial_variation`), ``response`` (name) and
    ``interval`` (probability of the intervals, default 0.95).
    """
    svc = ctx.inputs.submodels.get("svc")
    if svc is None:
        return None
    surfaces, coords = svc["surfaces"], list(svc["coordinates"])
    interval = float(svc.get("interval", 0.95))
    figure = None
    if len(coords) == 1:
        figure = ctx.writer.figure(plot_surface_curves(surfaces, coords[0], interval=interval), "svc_surfaces",
                                   "Coefficient curves with bands",
                                   f"Coefficient of each term along {coords[0]}: posterior mean and pointwise "
                                   f"{interval:.0%} interval.")
    elif len(coords) == 2:
        figure = ctx.writer.figure(plot_surface_maps(surfaces, coords, interval=interval), "svc_surfaces",
                                   "Coefficient maps", f"Posterior mean (left) and {interval:.0%} interval width "
                                   "(right) of each coefficient surface.")
    locations = _locations(surfaces, coords)
    n_terms = max(surfaces["term"].nunique(), 1)
    return {"response": svc.get("response", "the response"), "terms": list(dict.fromkeys(surfaces["term"])),
            "coordinates": coords, "n_units": len(surfaces) // n_terms, "n_locations": len(locations) // n_terms,
            "interval": f"{interval:.0%}", "figure": figure,
            "variation": ctx.writer.table(svc["spatial_variation"], "svc_spatial_variation",
                                          "Spatial variation of each coefficient (spatial_variation())"),
            "surfaces": ctx.writer.table(locations.reset_index(drop=True), "svc_surfaces",
                                         "Coefficient surfaces at the observed locations", max_rows=30)}
