"""The report's section on multi-region factors (views indexed by (subject, region)): per factor, the
shares of the region-level factor's variance between subjects, along a population trend over the region
coordinate, smooth within subject and independent, with 95% intervals, and the lengthscale (CSV + LaTeX).

The front door fills ``ReportInputs.submodels["region_factors"]`` (see :func:`region_factors_section`);
the section is left out when it is absent. Model page: docs/models/region_factors.md.
"""

from __future__ import annotations

from rgfactor.report.sections import register_section


@register_section("region_factors", "Multi-region factors", order=56, source="""{% import "_macros.html.j2" as m %}
<p>Subject-level views load on the subject-level factors; region-level views ({{ s.views|join(", ") }}) load on
region-level factors = the subject's level + a population trend over {{ s.coordinates|join(", ") }} + a smooth
within-subject deviation (Gaussian process, Hilbert-space basis) + an independent regional part. The table gives
each part's share of the region-level factor's variance over the observed (subject, region) pairs
(finite-population shares), posterior mean and 95% interval, and the lengthscale of the smooth parts
(docs/models/region_factors.md). With few regions per subject the smooth/independent split is weakly
identified; a factor that hardly loads on a region-level view has shares close to its prior.
{{ s.which }}.{% if s.interval_note %} {{ s.interval_note }}{% endif %}</p>
{{ m.table(s.shares) }}""")
def region_factors_section(ctx) -> dict | None:
    """The shares table of a multi-region fit.

    ``ctx.inputs.submodels["region_factors"]``: dict with ``shares`` (DataFrame indexed by factor:
    :meth:`rgfactor.GFA.region_shares`), ``views`` (the region-level views), ``coordinates`` (names)
    and ``method`` (the engine, for the note on its intervals).
    """
    rf = ctx.inputs.submodels.get("region_factors")
    if not rf:
        return None
    shares = rf["shares"]
    shown = [f for f in shares.index if str(f) in ctx.active_factors] or list(shares.index)
    which = (f"the {len(shown)} active factors are shown" if len(shown) < len(shares)
             else f"all {len(shown)} factors are shown")
    note = {"svi": "Intervals of SVI are those of the mean-field variational posterior, typically too narrow."
            }.get(rf.get("method"))
    return {"views": list(rf["views"]), "coordinates": list(rf["coordinates"]), "which": which,
            "interval_note": note,
            "shares": ctx.writer.table(shares, "region_shares", "Variance shares of each region-level factor "
                                       "(between subjects, population trend, smooth within subject, independent) "
                                       "and lengthscale, posterior mean and 95% interval", shown=shares.loc[shown])}
