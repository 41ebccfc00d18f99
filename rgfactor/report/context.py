"""What a report is made of (:class:`ReportInputs`, plain pandas/xarray) and the quantities several
sections share (:class:`ReportContext`: active factors, readable labels, circular labels, associations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
import xarray as xr

from rgfactor.dims import FACTOR, VIEW
from rgfactor.report.associations import adjusted_associations, find_circular_labels, readable_labels
from rgfactor.report.render import Writer

# A factor is *active* when it explains more than this fraction of the variance (rgfactor.posterior.variance)
# in at least one view. 1% is the convention of MOFA's reports (factors below it are dropped as inactive,
# Argelaguet et al. 2018); under ARD an inactive factor explains ~0 everywhere, so the exact value rarely matters.
ACTIVE_THRESHOLD = 0.01


@dataclass
class ReportInputs:
    """Everything the report shows, as plain pandas/xarray objects (the report never calls a model).

    Attributes
    ----------
    title, description : page title and lead paragraph.
    variance_explained : DataArray (view, factor), fractions.
    factors : DataArray (subject, factor), posterior-mean scores.
    diagnostics : dict: method, n_steps, converged, warnings, elbo, tol, summary (R-hat/ESS table),
        n_divergent, wall_time_s, ...; unknown keys are listed as "other diagnostics".
    labels : DataFrame (subject, label) of clinical/molecular labels, or None.
    variance_explained_total : Series view -> fraction explained by all factors together.
    loadings : view -> long DataFrame of the loadings' posterior (rgfactor.posterior.summary.loading_summary).
    views : view -> DataFrame (subject, feature) of the model's input values (data overview, circular rule).
    likelihoods, transforms : view -> likelihood / transform name.
    site : Series (subject) of sites, or None; associations are adjusted for it.
    covariates : names of the covariates the model adjusts for.
    label_scores : label -> (description, DataArray (subject, factor)): the scores a circular label is tested
        against (from the views without its feature); a circular label without an entry is left out.
    level_names : label -> {code: name} for readable categories.
    methods : {"model": rgfactor.posterior.methods.describe_model(...), "fit": {...}, "versions": {...}} or None.
    submodels : name -> the data of a registered submodel section (e.g. "site_effects").
    extra_tables : name -> DataFrame, shown in "Additional tables".
    spec_text : the specification as run.
    """

    title: str
    variance_explained: xr.DataArray
    factors: xr.DataArray
    diagnostics: dict
    labels: pd.DataFrame | None = None
    description: str | None = None
    variance_explained_total: pd.Series | None = None
    loadings: dict | None = None
    views: dict | None = None
    likelihoods: dict | None = None
    transforms: dict | None = None
    site: pd.Series | None = None
    covariates: list | None = None
    label_scores: dict = field(default_factory=dict)
    level_names: dict = field(default_factory=dict)
    methods: dict | None = None
    submodels: dict = field(default_factory=dict)
    extra_tables: dict = field(default_factory=dict)
    spec_text: str = ""
    active_threshold: float = ACTIVE_THRESHOLD
    top_n: int = 20
    n_top_loadings: int = 10


class ReportContext:
    """The inputs, the writer of figures/tables, and the shared derived quantities (computed once)."""

    def __init__(self, inputs: ReportInputs, writer: Writer):
        self.inputs = inputs
        self.writer = writer

    @cached_property
    def active_factors(self) -> list[str]:
        """Factors explaining more than ``active_threshold`` of the variance in at least one view."""
        ve = self.inputs.variance_explained.transpose(VIEW, FACTOR)
        keep = (ve > self.inputs.active_threshold).any(VIEW).values
        return [str(f) for f, k in zip(ve[FACTOR].values, keep) if k]

    @cached_property
    def inactive_factors(self) -> list[str]:
        return [str(f) for f in self.inputs.variance_explained[FACTOR].values if str(f) not in self.active_factors]

    @cached_property
    def labels(self) -> pd.DataFrame | None:
        """The labels with readable category names, or None when there are none."""
        lab = self.inputs.labels
        if lab is None or lab.shape[1] == 0:
            return None
        return readable_labels(lab, self.inputs.level_names)

    @cached_property
    def circular(self) -> dict:
        """{label: (view, feature)} of labels that copy a model input (circular-label rule)."""
        if self.labels is None or not self.inputs.views:
            return {}
        return find_circular_labels(self.inputs.labels, self.inputs.views)

    @cached_property
    def dropped_labels(self) -> list[str]:
        """Circular labels without scores from the other views: left out of the associations."""
        return [lab for lab in self.circular if lab not in self.inputs.label_scores]

    @cached_property
    def associations(self) -> pd.DataFrame | None:
        """Site-adjusted association table of the active factors (None without labels or active factors)."""
        if self.labels is None or not self.active_factors:
            return None
        keep = [c for c in self.labels.columns if str(c) not in self.dropped_labels]
        if not keep:
            return None
        factors = self.inputs.factors.sel({FACTOR: self.active_factors})
        scores = {lab: (desc, sc.sel({FACTOR: self.active_factors}))
                  for lab, (desc, sc) in self.inputs.label_scores.items() if lab in self.circular}
        return adjusted_associations(factors, self.labels[keep], site=self.inputs.site, scores=scores)

    def scores_for(self, label: str) -> tuple[str, xr.DataArray]:
        """(description, factor scores) a label is tested against."""
        if label in self.circular and label in self.inputs.label_scores:
            return self.inputs.label_scores[label]
        return "all views", self.inputs.factors
