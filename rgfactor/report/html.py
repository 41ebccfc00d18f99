"""The HTML report of a fit: Jinja2 templates over registered sections, figures (PNG + PDF), tables
(CSV + LaTeX), and an editable Methods text with its BibTeX file.

Layout of the output folder: ``report.html``, ``methods.md``, ``references.bib``, ``figures/*.png|pdf``,
``tables/*.csv|tex``. The page is ``templates/report.html.j2`` rendering the sections of
:mod:`rgfactor.report.sections` in order; every string is autoescaped by Jinja2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

import rgfactor
from rgfactor.report import factor_sections  # noqa: F401  (registers the factor sections)
from rgfactor.report.context import ReportContext, ReportInputs
from rgfactor.report.methods import write_methods
from rgfactor.report.render import Writer, environment
from rgfactor.report.sections import ordered_sections


def render_report(out_dir: str | Path, inputs: ReportInputs) -> Path:
    """Write the report of ``inputs`` into ``out_dir`` (created; existing files of the same name replaced).

    Returns
    -------
    Path of ``out_dir/report.html``.
    """
    out = Path(out_dir)
    writer = Writer(out)
    ctx = ReportContext(inputs, writer)
    ctx.methods_text = write_methods(ctx, out)
    sections = []
    for sec in ordered_sections():
        data = sec.build(ctx)
        if data is not None:
            sections.append({"key": sec.key, "title": sec.title, "template": sec.template, "data": data})
    n_warnings = sum(len(s["data"].get("warnings", [])) for s in sections if s["key"] == "convergence")
    n_sub = inputs.factors.sizes.get("subject", 0)
    views = [str(v) for v in inputs.variance_explained["view"].values]
    description = inputs.description or (
        f"Latent-factor model of {n_sub} subjects with {inputs.factors.sizes.get('factor', 0)} factors across "
        f"{len(views)} views ({', '.join(views)}).")
    page = environment().get_template("report.html.j2").render(
        title=inputs.title, description=description, sections=sections, n_warnings=n_warnings,
        version=rgfactor.__version__)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_report(out_dir: str | Path, *, title: str, variance_explained: xr.DataArray,
                 factors: xr.DataArray, labels: pd.DataFrame | None = None,
                 diagnostics: dict, spec_text: str = "",
                 extra_tables: dict[str, pd.DataFrame] | None = None, top_n: int = 20,
                 description: str | None = None, **more) -> Path:
    """Write figures, tables, ``methods.md`` and ``report.html`` of a fit into ``out_dir``.

    Parameters
    ----------
    out_dir : folder; ``figures/`` and ``tables/`` are created inside (existing files replaced).
    title : page title.
    variance_explained : DataArray, dims (view, factor), fractions.
    factors : DataArray, dims (subject, factor), posterior mean.
    labels : optional DataFrame, index = subject IDs: one site-adjusted test per (active factor, column).
    diagnostics : dict with optional keys method, n_steps, converged, tol, warnings (list of str), elbo
        (list of floats, the ELBO per step), summary (DataFrame or dict of lists with r_hat, ess_bulk),
        n_divergent, wall_time_s; other keys are shown as "other diagnostics".
    spec_text : the model specification (e.g. the TOML), shown verbatim.
    extra_tables : name -> DataFrame, written to ``tables/<name>.{csv,tex}`` and shown.
    top_n : association rows shown in the page (all rows are in the CSV).
    description : short text under the title; a default one is generated.
    **more : further fields of :class:`rgfactor.report.context.ReportInputs` (loadings, views, site,
        label_scores, level_names, methods, submodels, variance_explained_total, ...).

    Returns
    -------
    Path of ``out_dir/report.html``.
    """
    inputs = ReportInputs(title=title, variance_explained=variance_explained, factors=factors,
                          diagnostics=dict(diagnostics), labels=labels, description=description,
                          spec_text=spec_text, extra_tables=dict(extra_tables or {}), top_n=top_n, **more)
    return render_report(out_dir, inputs)
