"""The factor sections of the report: variance explained, associations, and one card per active factor."""

from __future__ import annotations

import pandas as pd

from rgfactor.dims import FACTOR, VIEW
from rgfactor.report.associations import EFFECT_MEASURES, trim_for_print
from rgfactor.report.figures import (plot_factor_scatter, plot_top_loadings, plot_variance_explained,
                                     plot_variance_totals)
from rgfactor.report.render import slug
from rgfactor.report.sections import register_section
from rgfactor.report.tables import variance_explained_table

SHARED_THRESHOLD = 0.01   # "shared" factor: above this fraction of the variance in at least two views


def shared_factors(ve, threshold: float = SHARED_THRESHOLD) -> list[str]:
    """Factors explaining more than ``threshold`` of the variance in at least two views.

    Parameters
    ----------
    ve : DataArray, dims (view, factor), fractions.
    """
    active = (ve.transpose(VIEW, FACTOR) > threshold).sum(VIEW)
    return [str(f) for f, n in zip(ve[FACTOR].values, active.values) if n >= 2]


@register_section("variance", "Variance explained", order=30)
def variance(ctx) -> dict | None:
    """Heatmap and table of the active factors, per-view totals of all factors (none for a model
    without factors, e.g. an SVC)."""
    inp = ctx.inputs
    if inp.factors.sizes.get("factor", 0) == 0:
        return None
    ve = inp.variance_explained
    table = variance_explained_table(ve)
    if inp.variance_explained_total is not None:
        table["total"] = inp.variance_explained_total.reindex(table.index).astype(float).to_numpy()
    active = ctx.active_factors
    out = {"active": active, "inactive": ctx.inactive_factors, "threshold": inp.active_threshold,
           "shared": [f for f in shared_factors(ve) if f in active], "heatmap": None}
    shown = table[active + ["total"]]
    out["table"] = ctx.writer.table(table, "variance_explained", "Fraction of variance explained per view and "
                                    "active factor; total: all factors together", shown=shown)
    if active:
        out["heatmap"] = ctx.writer.figure(plot_variance_explained(ve.sel({FACTOR: active})), "variance_explained",
                                           "variance explained per view and active factor")
    out["totals"] = ctx.writer.figure(plot_variance_totals(table["total"]), "variance_explained_total",
                                      "variance explained per view by all factors")
    return out


def _scatter(ctx, factor: str, label: str, stem: str, y: str | None = None) -> dict:
    desc, scores = ctx.scores_for(label)
    title = f"{factor}" + (f" vs {y}" if y else "") + f" by {label}" + ("" if desc == "all views" else f"\n(scores: {desc})")
    fig = plot_factor_scatter(scores, ctx.labels, label, x=factor, y=y, title=title)
    return ctx.writer.figure(fig, stem, f"{factor} by {label}")


@register_section("associations", "Associations with clinical/molecular labels", order=40)
def associations(ctx) -> dict | None:
    """The site-adjusted association table, its definitions, the circular-label notes, and per label a
    scatter of the two active factors most associated with it (none for a model without factors)."""
    if ctx.inputs.factors.sizes.get("factor", 0) == 0:
        return None
    if ctx.labels is None:
        return {"table": None, "reason": "No labels were given."}
    assoc = ctx.associations
    circular = [{"label": lab, "view": v, "feature": f, "scores": ctx.inputs.label_scores[lab][0]}
                for lab, (v, f) in ctx.circular.items() if lab in ctx.inputs.label_scores]
    out = {"table": None, "reason": "", "circular": circular, "dropped": [(lab, *ctx.circular[lab]) for lab in ctx.dropped_labels],
           "measures": EFFECT_MEASURES, "site_adjusted": ctx.inputs.site is not None, "figures": [],
           "n_sites": 0 if ctx.inputs.site is None else int(ctx.inputs.site.nunique())}
    if assoc is None:
        out["reason"] = "No active factor to test." if not ctx.active_factors else "No testable label."
        return out
    out["skipped"] = assoc.attrs.get("skipped", {})
    out["n_tests"] = len(assoc)
    out["n_significant"] = int((assoc["p_adj"] < 0.05).sum())
    out["table"] = ctx.writer.table(assoc, "associations", "Factor-label associations (site-adjusted partial F-tests, "
                                    "BH-adjusted)", latex=trim_for_print(assoc), max_rows=ctx.inputs.top_n)
    names = ctx.active_factors
    for col in ctx.labels.columns:
        ranked = [f for f in assoc.loc[assoc["label"] == str(col)].sort_values("p_value")["factor"] if f in names]
        if not ranked:
            continue
        pair = sorted(ranked[:2], key=names.index)
        out["figures"].append(_scatter(ctx, pair[0], str(col), f"factors_{slug(col)}", y=pair[1] if len(pair) > 1 else None))
    return out


def top_loadings(table: pd.DataFrame, factor: str, n: int) -> pd.DataFrame:
    """The ``n`` largest-|mean| loadings of ``factor`` in each view of a long loadings table (columns view,
    feature, factor, mean, hdi_low, hdi_high, lfsr), largest first."""
    t = table[table["factor"] == factor]
    parts = []
    for view in dict.fromkeys(t["view"]):
        tv = t[t["view"] == view]
        parts.append(tv.reindex(tv["mean"].abs().sort_values(ascending=False).index[:n]))
    return pd.concat(parts) if parts else t


@register_section("factors", "Factors", order=50)
def factors(ctx) -> dict | None:
    """One card per active factor: variance per view, top loadings (94% interval, lfsr), associations, and a
    scatter of the factor by its most strongly associated label."""
    inp = ctx.inputs
    if not ctx.active_factors:
        return None
    ve = inp.variance_explained.transpose(VIEW, FACTOR)
    long = None
    if inp.loadings:
        long = pd.concat([t.assign(view=v) for v, t in inp.loadings.items()], ignore_index=True)
    assoc = ctx.associations
    exports = []
    for view, t in (inp.loadings or {}).items():   # data exports: every feature, CSV only
        path = ctx.writer.out / "tables" / f"loadings_{slug(view)}.csv"
        t[t["factor"].isin(ctx.active_factors)].to_csv(path, index=False)
        exports.append({"view": view, "csv": f"tables/{path.name}"})
    cards = []
    for f in ctx.active_factors:
        card = {"factor": f, "ve": [(str(v), float(ve.sel({VIEW: v, FACTOR: f}))) for v in ve[VIEW].values],
                "loadings": None, "figure": None, "associations": None, "scatter": None}
        if long is not None:
            top = top_loadings(long, f, inp.n_top_loadings)
            if len(top):
                shown = top[["view", "feature", "mean", "hdi_low", "hdi_high", "lfsr"]].rename(
                    columns={"mean": "loading", "hdi_low": "hdi_3%", "hdi_high": "hdi_97%"}).reset_index(drop=True)
                card["loadings"] = ctx.writer.table(shown, f"top_loadings_{f}", f"{f}: top {inp.n_top_loadings} "
                                                    "loadings per view (posterior mean, 94% HDI, local false sign rate)")
                card["figure"] = ctx.writer.figure(plot_top_loadings(top, f), f"loadings_{f}", f"{f} top loadings")
        if assoc is not None:
            rows = assoc[assoc["factor"] == f].head(5)
            if len(rows):
                card["associations"] = ctx.writer.table(
                    rows.drop(columns=["factor"]).reset_index(drop=True), f"associations_{f}",
                    f"{f}: strongest label associations")
                best = rows.iloc[0]
                card["scatter"] = _scatter(ctx, f, str(best["label"]), f"factor_{f}_by_{slug(best['label'])}")
        cards.append(card)
    return {"cards": cards, "exports": exports}
