"""The report's sections: a registry, so that a submodel adds its section without editing the page.

A section is a builder ``build(ctx) -> dict | None`` (None: the section is left out, e.g. no site
effects in the fit) and a Jinja2 template that renders the dict (as ``s``) with the macros of
``_macros.html.j2``. The page (``report.html.j2``) renders the registered sections in ``order``.
A submodel (site components, mediation, spatial surfaces) registers its own::

    @register_section("mediation", "Mediation effects", order=70, source=\"\"\"
    {% import "_macros.html.j2" as m %}{{ m.table(s.effects) }}\"\"\")
    def mediation(ctx):
        eff = ctx.inputs.submodels.get("mediation")      # filled by the front door
        if eff is None:
            return None
        return {"effects": ctx.writer.table(eff, "mediation_effects", "Mediation effects")}

``source`` is an inline template; without it the template ``sections/<key>.html.j2`` of the package is
used. Builders write their figures and tables through ``ctx.writer`` (PNG + PDF, CSV + LaTeX).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from rgfactor.report.figures import plot_elbo, plot_rhat_ess
from rgfactor.report.render import EXTRA_TEMPLATES, cell_text, slug
from rgfactor.report.tables import label_kind, sorted_levels


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    order: float
    build: Callable
    template: str


SECTIONS: dict[str, Section] = {}


def register_section(key: str, title: str, order: float, *, source: str | None = None):
    """Decorator registering ``build(ctx) -> dict | None`` as the report section ``key`` (module docstring).

    Parameters
    ----------
    key : unique section id (HTML anchor, file stem); registering a key again replaces the section.
    title : the section heading.
    order : position on the page (sections are sorted by it; the built-ins use 10, 20, ..., 99).
    source : inline Jinja2 template; default: the package template ``sections/<key>.html.j2``.
    """
    def deco(build):
        template = f"sections/{key}.html.j2"
        if source is not None:
            EXTRA_TEMPLATES[template] = source
        SECTIONS[key] = Section(key, title, order, build, template)
        return build
    return deco


def ordered_sections() -> list[Section]:
    return sorted(SECTIONS.values(), key=lambda s: (s.order, s.key))


# ============================================================================== built-in sections
@register_section("overview", "Data overview", order=10)
def overview(ctx) -> dict | None:
    """N per view, missing views and entries, site counts, covariates and labels."""
    inp = ctx.inputs
    out = {"n_subjects": int(inp.factors.sizes.get("subject", 0)), "views": None, "sites": None, "n_sites": 0,
           "covariates": list(inp.covariates or []), "labels": None}
    if inp.views:
        rows = []
        for view, df in inp.views.items():
            seen = df.notna().any(axis=1)
            n_model = None
            if inp.loadings and view in inp.loadings:
                n_model = int(inp.loadings[view]["feature"].nunique())
            missing = float(df[seen].isna().to_numpy().mean()) if seen.any() else float("nan")
            rows.append({"view": view, "likelihood": (inp.likelihoods or {}).get(view, ""),
                         "transform": (inp.transforms or {}).get(view, ""), "features": df.shape[1],
                         "features in model": n_model if n_model is not None else df.shape[1],
                         "subjects observed": int(seen.sum()), "subjects missing the view": int((~seen).sum()),
                         "missing entries (%)": 100.0 * missing})
        tab = pd.DataFrame(rows).set_index("view")
        out["views"] = ctx.writer.table(tab, "data_overview", "Views: features, subjects observed, missingness")
    if inp.site is not None:
        counts = inp.site.value_counts(dropna=False).rename("subjects").to_frame()
        counts.index = pd.Index([str(s) for s in counts.index], name="site")
        out["sites"] = ctx.writer.table(counts, "site_counts", "Subjects per site")
        out["n_sites"] = len(counts)
    if ctx.labels is not None:
        rows = []
        for col in ctx.labels.columns:
            s = ctx.labels[col]
            kind = label_kind(s) or "constant"
            levels = ", ".join(f"{lv} ({int(s.eq(lv).sum())})" for lv in sorted_levels(s)) \
                if kind in ("binary", "categorical") else f"{s.min():.3g} to {s.max():.3g}" if kind == "continuous" else ""
            rows.append({"label": str(col), "kind": kind, "levels (n)": levels, "missing": int(s.isna().sum()),
                         "model input": "yes: {} of view {}".format(*ctx.circular[col][::-1]) if col in ctx.circular else ""})
        out["labels"] = ctx.writer.table(pd.DataFrame(rows).set_index("label"), "labels_overview", "Labels")
    if not out["n_subjects"] and all(out[k] is None for k in ("views", "sites", "labels")):
        return None   # nothing about subjects to show (e.g. an SVC: its section describes the units)
    return out


def elbo_checks(diagnostics: dict) -> list[str]:
    """Warnings read off the ELBO trace: still rising at the end by more than the tolerance."""
    e = np.asarray(diagnostics.get("elbo") or [], dtype=float)
    tol = diagnostics.get("tol")
    e = e[np.isfinite(e)]
    if e.size < 20:
        return []
    k = max(1, e.size // 100)
    rel = (e[-1] - e[-1 - k]) / max(abs(e[-1]), 1e-300) / k
    if tol and rel > tol:
        return [f"the ELBO was still rising at the last step (mean relative change {rel:.1e} per step over the "
                f"last {k} steps, above the tolerance {tol:g}): run longer (max_iter) before relying on the fit."]
    return []


@register_section("convergence", "Convergence", order=20)
def convergence(ctx) -> dict:
    """The engine's run, its warnings in a visible box, the ELBO trace or R-hat/ESS/divergences."""
    d = dict(ctx.inputs.diagnostics)
    items = [(k, cell_text(d[k], k)) for k in ("method", "sparsity", "n_steps", "converged", "tol") if d.get(k) is not None]
    if d.get("wall_time_s") is not None:
        items.append(("wall time (s)", f"{float(d['wall_time_s']):.1f}"))
    elbo = np.asarray(d.get("elbo") or [], dtype=float)
    if elbo.size:
        items.append(("final ELBO", f"{elbo[-1]:.6g}"))
    warnings = list(dict.fromkeys(list(d.get("warnings") or []) + elbo_checks(d)))
    if d.get("converged") is False:
        warnings.insert(0, "The fit did not meet its convergence criterion; treat the results as preliminary.")
    out = {"run": items, "warnings": warnings, "elbo": None, "mcmc": None,
           "variational": d.get("method") in ("cavi", "svi")}
    if elbo.size:
        out["elbo"] = ctx.writer.figure(plot_elbo(elbo, tol=d.get("tol")), "elbo", "ELBO per step and its relative change")
    summ = d.get("summary")
    if summ is not None:
        df = pd.DataFrame(summ)
        if {"r_hat", "ess_bulk"} <= set(df.columns):
            r, e = pd.to_numeric(df["r_hat"], errors="coerce"), pd.to_numeric(df["ess_bulk"], errors="coerce")
            out["mcmc"] = {"rows": [("max R-hat", f"{r.max():.3f}"), ("parameters with R-hat > 1.01", int((r > 1.01).sum())),
                                     ("min bulk ESS", f"{e.min():.0f}"),
                                     ("divergent transitions", d.get("n_divergent", "–"))],
                           "figure": ctx.writer.figure(plot_rhat_ess(df), "rhat_ess", "R-hat and ESS histograms")}
    known = {"method", "sparsity", "n_steps", "converged", "tol", "wall_time_s", "warnings", "elbo", "summary",
             "n_divergent", "alignment", "max_r_hat", "min_ess_bulk", "min_ess_tail"}
    out["other"] = [(k, _short(v)) for k, v in d.items() if k not in known]
    return out


def _short(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@register_section("site_effects", "Site effects", order=60)
def site_effects(ctx) -> dict | None:
    """Size of the fitted site intercepts per view and site (posterior means), when the model has them."""
    eff = ctx.inputs.submodels.get("site_effects")
    if not eff:
        return None
    counts = ctx.inputs.site.value_counts() if ctx.inputs.site is not None else pd.Series(dtype=int)
    rows = []
    for view, df in eff.items():
        for site, vals in df.iterrows():
            v = vals.to_numpy(dtype=float)
            rows.append({"view": view, "site": str(site), "subjects": int(counts.get(site, 0)),
                         "RMS site effect": float(np.sqrt(np.mean(v**2))),
                         "max |site effect|": float(np.max(np.abs(v)))})
    tab = pd.DataFrame(rows).set_index("view")
    stability = []
    for view, df in ctx.inputs.submodels.get("site_stability", {}).items():
        stability.append(ctx.writer.table(df, f"site_stability_{view}", f"{view}: the least site-stable features "
                                          "(share of variance due to site, posterior mean and 94% HDI)", max_rows=15))
    return {"table": ctx.writer.table(tab, "site_effects", "Site intercepts: root-mean-square over features "
                                                            "(model scale, posterior means)"),
            "stability": stability}


@register_section("extra_tables", "Additional tables", order=90)
def extra_tables(ctx) -> dict | None:
    if not ctx.inputs.extra_tables:
        return None
    return {"tables": [ctx.writer.table(df, slug(name), str(name), max_rows=50)
                       for name, df in ctx.inputs.extra_tables.items()]}


@register_section("methods", "Methods text and references", order=95)
def methods(ctx) -> dict | None:
    text = getattr(ctx, "methods_text", None)
    if not text:
        return None
    return {"paragraphs": [p for p in text.split("\n\n") if p.strip()]}


@register_section("specification", "Specification", order=99)
def specification(ctx) -> dict:
    return {"text": ctx.inputs.spec_text}
