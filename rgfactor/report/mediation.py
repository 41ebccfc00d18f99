"""The report's mediation section: a forest plot of NIE/NDE/TE (and per-mediator NIE) with their
intervals, and the effects table (CSV + LaTeX).

The front door fills ``ReportInputs.submodels["mediation"]`` with :meth:`rgfactor.mediation.Mediation.summary`
(a DataFrame indexed by estimand with mean, sd, hdi_3%, hdi_97%, p_positive); the section is left
out when it is absent. Estimands are defined on docs/models/mediation.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rgfactor.report.sections import register_section

MAIN = ("NIE", "NDE", "TE")


def plot_mediation_forest(summary: pd.DataFrame, *, unit: str = "") -> Figure:
    """Forest plot: posterior mean (dot) and the HDI (line) of NIE, NDE, TE and every NIE_mediator[..]
    row of ``summary`` (rows of :func:`rgfactor.posterior.mediation.summarize`), top to bottom."""
    lo, hi = [c for c in summary.columns if c.startswith("hdi_")][:2]
    rows = [r for r in MAIN if r in summary.index] + [r for r in summary.index if r.startswith("NIE_mediator[")]
    tab = summary.loc[rows]
    fig = Figure(figsize=(6.0, 0.9 + 0.32 * len(rows)))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colours = ["#1f4e79" if r in MAIN else "#7f7f7f" for r in rows]
    ax.hlines(y, tab[lo], tab[hi], colors=colours, lw=2)
    ax.scatter(tab["mean"], y, c=colours, zorder=3, s=22)
    ax.axvline(0.0, color="#999999", lw=0.8, ls="--")
    ax.set_yticks(y, [r.replace("NIE_mediator", "NIE ") for r in rows], fontsize=8)
    ax.set_xlabel(f"effect{' (' + unit + ')' if unit else ''}: posterior mean and {lo[4:]}-{hi[4:]} HDI")
    fig.tight_layout()
    return fig


@register_section("mediation", "Mediation effects", order=65, source="""{% import "_macros.html.j2" as m %}
<p>Natural indirect (NIE), natural direct (NDE) and total (TE) effects of the exposure on the outcome,
by the mediation formula per posterior draw (definitions and the sequential-ignorability assumption
they rest on: docs/models/mediation.md). PM = NIE / TE; NIE[k]: through mediator k alone.
{% if s.unit %}Scale: {{ s.unit }}.{% endif %}</p>
{{ m.figure(s.forest) }}
{{ m.table(s.table) }}""")
def mediation(ctx) -> dict | None:
    """Forest plot and table of the mediation effects, when the report has them."""
    med = ctx.inputs.submodels.get("mediation")
    if med is None:
        return None
    summary, unit = (med["summary"], med.get("unit", "")) if isinstance(med, dict) else (med, "")
    fig = plot_mediation_forest(summary, unit=unit)
    return {"unit": unit,
            "forest": ctx.writer.figure(fig, "mediation_forest", "Forest plot of mediation effects",
                                        "Mediation effects: posterior means and highest-density intervals."),
            "table": ctx.writer.table(summary, "mediation_effects", "Mediation effects (posterior summaries)",
                                      max_rows=40)}
