"""Report layer: figures, tables (CSV, LaTeX), the HTML report of a fit and its Methods text.

The bottom layer: it consumes xarray/pandas objects and plain dicts only, and never imports
inference, generative models or estimators. Sections are registered (:func:`register_section`), so a
submodel adds its own section without editing the page.
"""

from rgfactor.report.associations import adjusted_associations, find_circular_labels, readable_labels
from rgfactor.report.context import ACTIVE_THRESHOLD, ReportInputs
from rgfactor.report.factor_sections import shared_factors
from rgfactor.report.figures import (
    plot_elbo,
    plot_factor_scatter,
    plot_rhat_ess,
    plot_top_loadings,
    plot_variance_explained,
    plot_variance_totals,
    save_figure,
)
from rgfactor.report.gp_factors import plot_factor_curves, plot_factor_maps  # registers the gp_factors section
from rgfactor.report.html import render_report, write_report
from rgfactor.report.mediation import plot_mediation_forest  # registers the mediation section
from rgfactor.report import region_factors  # noqa: F401  registers the region_factors section
from rgfactor.report.sections import register_section
from rgfactor.report.svc import plot_surface_curves, plot_surface_maps  # registers the svc section
from rgfactor.report.tables import (
    association_table,
    label_kind,
    to_latex,
    variance_explained_table,
    write_table,
)

__all__ = [
    "ACTIVE_THRESHOLD",
    "ReportInputs",
    "adjusted_associations",
    "association_table",
    "find_circular_labels",
    "label_kind",
    "plot_elbo",
    "plot_factor_curves",
    "plot_factor_maps",
    "plot_factor_scatter",
    "plot_mediation_forest",
    "plot_rhat_ess",
    "plot_surface_curves",
    "plot_surface_maps",
    "plot_top_loadings",
    "plot_variance_explained",
    "plot_variance_totals",
    "readable_labels",
    "register_section",
    "render_report",
    "save_figure",
    "shared_factors",
    "to_latex",
    "variance_explained_table",
    "write_report",
    "write_table",
]
