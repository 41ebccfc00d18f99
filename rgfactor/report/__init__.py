"""Report layer: figures, tables (CSV, LaTeX) and the HTML report of a fit.

The bottom layer: it consumes xarray/pandas objects and plain dicts only, and never imports
inference, generative models or estimators.
"""

from rgfactor.report.figures import (
    plot_elbo,
    plot_factor_scatter,
    plot_rhat_ess,
    plot_variance_explained,
    save_figure,
)
from rgfactor.report.html import shared_factors, write_report
from rgfactor.report.tables import (
    association_table,
    label_kind,
    to_latex,
    variance_explained_table,
    write_table,
)

__all__ = [
    "association_table",
    "label_kind",
    "plot_elbo",
    "plot_factor_scatter",
    "plot_rhat_ess",
    "plot_variance_explained",
    "save_figure",
    "shared_factors",
    "to_latex",
    "variance_explained_table",
    "write_report",
    "write_table",
]
