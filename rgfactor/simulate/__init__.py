"""Simulated cohorts with known truth, drawn from the model description itself.

Parameters (factors, loadings, intercepts, site and covariate effects, noise) are chosen here with
NumPy; the observations are then drawn by the model's own NumPyro program conditioned on them (a
prior predictive draw with chosen parameter values), so a simulation can never drift from the model
that is fitted:

    data, truth = rgf.simulate.multiview(n_subjects=200, n_factors=5, random_state=0)
    data, truth = rgf.simulate.ppls(n_subjects=300, n_components=2, random_state=0)
    data, clinical, truth = rgf.simulate.mediation(n_subjects=200, random_state=0)
    data, truth = rgf.simulate.spatial(n_subjects=400, lengthscales=(0.2, 0.8, 0, 0), random_state=0)
    data, truth = rgf.simulate.regions(n_subjects=80, n_regions=5, random_state=0)   # multi-region

(:func:`regions` draws with NumPy from the multi-region model's definition, with exact GPs.)
"""

from rgfactor.simulate.core import (DEFAULT_VIEWS, LOADING_SCALE, cohort, factor_activity, model_arrays,
                                    multiview, ppls, sample_views, spatial)
from rgfactor.simulate.mediation_designs import mediation, mediation_factors, mediation_survival
from rgfactor.simulate.regions import regions

__all__ = ["multiview", "ppls", "cohort", "spatial", "regions", "mediation", "mediation_survival", "mediation_factors",
           "sample_views", "factor_activity", "model_arrays", "DEFAULT_VIEWS", "LOADING_SCALE"]
