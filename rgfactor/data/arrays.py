"""Numeric arrays handed from the data layer to the generative and inference layers.

:class:`ModelArrays` is the only thing a model function or an inference engine sees of the data:
plain NumPy arrays, already preprocessed (size factors, transforms), with masks for missing entries.
It is built by :meth:`rgfactor.MultiViewData.to_arrays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ViewArrays:
    """One view, ready for a likelihood.

    Attributes
    ----------
    name : view name, e.g. ``'rna'``.
    likelihood : one of ``'gaussian'``, ``'negative_binomial'``, ``'bernoulli'``, ``'poisson'``.
    y : (n_subjects, n_features) float64, or float32 when the view was given in float32 (large
        cohorts: half the memory); model-scale values (transformed for Gaussian views,
        raw integer counts for count views, 0/1 for Bernoulli). Missing entries are set to 0.
    mask : (n_subjects, n_features) bool; True where ``y`` is observed. A subject missing the whole
        view has an all-False row.
    log_offset : (n_subjects,) float64; log size factor for count views (0 elsewhere), added to
        the linear predictor. Subjects without the view have 0.
    centre : (n_features,) float64; empirical centre of each feature on the link scale (mean for
        Gaussian, log of mean normalised count for counts, logit of frequency for Bernoulli).
        Used to centre the intercept prior.
    scale : (n_features,) float64; empirical sd on the data scale for Gaussian views (1 elsewhere).
    features : feature names, length n_features.
    level : 'subject' (rows = subjects) or 'region' (multi-region data: rows = the (subject, region) grid
        in C order, row ``s * n_regions + r``; :mod:`rgfactor.data.regions`).

    A view of kind 'survival' (the outcome of a mediation model) holds signed times in ``y``: +t for an
    event at time t, -t for right censoring at t (:mod:`rgfactor.data.kinds`).
    """

    name: str
    likelihood: str
    y: np.ndarray
    mask: np.ndarray
    log_offset: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    features: tuple[str, ...]
    level: str = "subject"

    @property
    def n_features(self) -> int:
        return self.y.shape[1]

    @property
    def observed_subjects(self) -> np.ndarray:
        """(n_subjects,) bool: subjects with at least one observed entry in this view."""
        return self.mask.any(axis=1)


@dataclass(frozen=True)
class ModelArrays:
    """All views of a cohort on a common subject axis.

    Attributes
    ----------
    views : the views, in the order of :attr:`MultiViewData.view_names`.
    subjects : subject IDs, length n_subjects (the union across views).
    site : (n_subjects,) int codes in ``[0, n_sites)``, or None when no site was given.
    sites : site labels, length n_sites (empty when no site).
    covariates : (n_subjects, n_covariates) float64, standardised, or None.
    covariate_names : names of the covariate columns.
    exposure : (n_subjects,) float64 exposure of a mediation model (0/1, or standardised when
        continuous), or None.
    confounders : (n_subjects, n_confounders) float64 confounders of a mediation model (standardised,
        categorical ones one-hot encoded), or None.
    confounder_names : names of the confounder columns.
    coordinates : (n_subjects, n_coordinates) float64 locations as given (not scaled), or None.
    coordinate_names : names of the coordinate columns.
    regions : multi-region data: the region labels (then ``coordinates`` is (n_subjects * n_regions,
        n_coordinates) on the (subject, region) grid, the rows of the region-level views); () otherwise.
    """

    views: tuple[ViewArrays, ...]
    subjects: tuple[str, ...]
    site: np.ndarray | None = None
    sites: tuple[str, ...] = ()
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    exposure: np.ndarray | None = None
    confounders: np.ndarray | None = None
    confounder_names: tuple[str, ...] = ()
    coordinates: np.ndarray | None = None
    coordinate_names: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_sites(self) -> int:
        return len(self.sites)

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.views)

    def view(self, name: str) -> ViewArrays:
        for v in self.views:
            if v.name == name:
                return v
        raise KeyError(name)
