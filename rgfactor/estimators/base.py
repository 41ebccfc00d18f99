"""The shared machinery of the factor-model estimators: fitting, fitted quantities, new subjects."""

from __future__ import annotations

import time
from dataclasses import replace
import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator

from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import FACTOR, SUBJECT, VIEW, factor_labels, feature_dim
from rgfactor.data.checks import check_factor_count, check_new_data, check_positive_int, check_site_setting
from rgfactor.errors import ConvergenceWarning, DataError, DataWarning, NotFittedError, SpecError
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.model import Model, config_from_arrays, describe, model_data
from rgfactor.inference.engines import resolve_engine, run_engine
from rgfactor.inference.blas import blas_threads
from rgfactor.inference.interrupt import interruptible
from rgfactor.inference.init import pca_init
from rgfactor.inference.newsubjects import NewSubjects, new_subject_posterior, predictive_mean
from rgfactor.posterior.diagnostics import nuts_diagnostics
from rgfactor.posterior.idata import build_posterior, prepare
from rgfactor.estimators.regions import RegionFactorsMixin
from rgfactor.estimators.smooth import SmoothFactorsMixin, check_new_coordinates, resolution_warnings

if TYPE_CHECKING:   # xarray is imported where it is used: a fit imports it while XLA compiles (posterior.idata.prepare)
    import xarray as xr


class FactorModel(SmoothFactorsMixin, RegionFactorsMixin, BaseEstimator):
    """Shared machinery of the factor-model estimators (GFA, PCCA, PPLS). Not used directly."""

    structure = "base"

    # --------------------------------------------------------------- structure hooks
    def _activity(self, arrays) -> dict | None:
        return None

    def _n_factors(self, arrays=None) -> int:
        return check_positive_int("n_factors", self.n_factors)

    def _response_views(self) -> tuple[str, ...]:
        return ()

    def _init(self, arrays, config: ModelConfig) -> dict:
        """Initial values of the NumPyro engines (structure hook; PPLS adapts the response views)."""
        return pca_init(arrays, config.n_factors, self.random_state)

    # --------------------------------------------------------------- fitting
    FITTED = ("idata_", "config_", "preprocessing_", "diagnostics_", "variance_explained_",
              "variance_explained_total_", "_means_cache")

    def _config(self, arrays, sparsity: str, site_effects=None) -> ModelConfig:
        site = self.site_effects if site_effects is None else site_effects
        return config_from_arrays(arrays, self._n_factors(arrays), sparsity=sparsity, site_effects=site,
                                  activity=self._activity(arrays), response_views=self._response_views(),
                                  view_weights=getattr(self, "view_weights", "none"),
                                  factor_prior=getattr(self, "factor_prior", "normal"),
                                  lengthscale_range=getattr(self, "lengthscale_range", None),
                                  n_basis=getattr(self, "n_basis", None),
                                  gp_basis=getattr(self, "gp_basis", "hsgp"))

    def _reset(self) -> None:
        for name in self.FITTED:
            if name in self.__dict__:
                delattr(self, name)

    def fit(self, data: MultiViewData, y=None, *, method: str | None = None, progress=None):
        """Fit the model to a cohort.

        Parameters
        ----------
        data : MultiViewData.
        y : ignored (scikit-learn signature).
        method : 'auto' (default: ``self.method``; 'cavi' when the model and prior allow it, else
            'svi'), 'svi', 'nuts' (full posterior) or 'cavi' (closed-form variational engine).
        progress : True, False or 'auto' (default ``self.progress``; 'auto' shows a bar once the fit
            has run for a few seconds).

        Returns
        -------
        self

        Raises
        ------
        DataError  if ``data`` is not a MultiViewData; SpecError for an unsupported method/prior pair.
        """
        if not isinstance(data, MultiViewData):
            raise DataError(f"fit expects a MultiViewData (rgf.MultiViewData.from_pandas), got {type(data).__name__}.")
        self._reset()   # a failed or interrupted fit leaves the estimator unfitted
        progress = self.progress if progress is None else progress
        return run_recorded(self, lambda: self._fit(data, method, progress))

    def _fit(self, data: MultiViewData, method: str | None, progress) -> dict:
        prep, arrays = data.fit_arrays()
        site_effects = check_site_setting(self.site_effects, data.site)
        k = self._n_factors(arrays)
        check_factor_count(k, arrays.n_subjects, {v.name: v.n_features for v in arrays.views})

        def build(sparsity):
            config = self._config(arrays, sparsity, site_effects)
            return config, describe(config)

        # stochastic VI needs a natural-gradient step for every block, which spike-and-slab loadings lack:
        # sparsity='auto' means ARD there (the docstring of batch_size says so)
        sparsity = "ard" if self.batch_size is not None and self.sparsity == "auto" else self.sparsity
        method, sparsity, config, model = resolve_engine(method or self.method, sparsity, build)
        # the NumPyro engines' float32 copy of the data; the closed-form engine makes its own, so this one
        # is built after it has run (for variance explained), not held beside it
        mdata = None if method == "cavi" else model.prepare_data(model_data(arrays))
        if (self.batch_size is not None or self.devices is not None) and method != "cavi":
            raise SpecError(f"batch_size and devices apply to the closed-form engine, not method='{method}'; "
                            "use method='cavi' (or 'auto').")
        run = run_engine(method, model, arrays, mdata, init=None if method == "cavi" else self._init(arrays, config),
                         max_iter=self.max_iter, tol=self.tol, learning_rate=self.learning_rate,
                         num_draws=self.num_draws, num_warmup=self.num_warmup, num_chains=self.num_chains,
                         batch_size=self.batch_size, devices=self.devices,
                         random_state=self.random_state, progress=progress, while_compiling=prepare)
        diagnostics = {"method": method, "sparsity": sparsity, **run.diagnostics}
        mdata = model.prepare_data(model_data(arrays, host=True)) if mdata is None else mdata
        idata, info = build_posterior(run.draws, arrays, mdata, model, sample_stats=run.sample_stats,
                                      multimodal=method == "nuts",
                                      rotate=method == "nuts" and getattr(model.factors, "rotation_invariant", True),
                                      random_state=self.random_state, method=method)
        if method == "nuts":
            nd = nuts_diagnostics(idata)
            for message in nd.pop("warnings"):
                warnings.warn(message, ConvergenceWarning, stacklevel=2)
            diagnostics.update(nd)
        if config.factor_prior == "gp" and not config.region_views:
            for message in resolution_warnings(model.factors, idata.posterior):
                warnings.warn(message, ConvergenceWarning, stacklevel=2)
        diagnostics["alignment"] = info["alignment"]
        return {"idata_": idata, "config_": config, "preprocessing_": prep, "diagnostics_": diagnostics,
                "variance_explained_": info["variance_explained"],
                "variance_explained_total_": info["variance_explained_total"]}

    # --------------------------------------------------------------- fitted quantities
    def _check_fitted(self):
        if not hasattr(self, "idata_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(data) first.")

    @property
    def factors_(self) -> xr.DataArray:
        """Posterior mean of the factors, dims (subject, factor)."""
        self._check_fitted()
        return self.idata_.posterior["Z"].mean(("chain", "draw"))

    @property
    def loadings_(self) -> dict[str, xr.DataArray]:
        """Posterior mean loadings per view, dims (<view>_feature, factor)."""
        self._check_fitted()
        return {v: self.idata_.posterior[f"W_{v}"].mean(("chain", "draw")) for v in self.config_.view_names}

    def variance_explained(self, total: bool = False) -> xr.DataArray:
        """Fraction of variance explained per (view, factor), in [0, 1] (definition:
        :mod:`rgfactor.posterior.variance`); ``total=True`` gives all factors together, dims (view,)."""
        import xarray as xr

        self._check_fitted()
        views = list(self.config_.view_names)
        if total:
            return xr.DataArray(np.asarray(self.variance_explained_total_), dims=[VIEW], coords={VIEW: views})
        return xr.DataArray(np.asarray(self.variance_explained_), dims=[VIEW, FACTOR],
                            coords={VIEW: views, FACTOR: factor_labels(self.config_.n_factors)})

    def log_likelihood(self):
        """Pointwise log-likelihood per view and subject over the posterior draws, as the
        ``log_likelihood`` group of ``idata_`` (computed on first call and kept: LOO, ``compare`` and
        the report use it). Returns an xarray Dataset, one variable per view, dims (chain, draw, subject)."""
        from rgfactor.posterior.loglik import add_log_likelihood

        self._check_fitted()
        return add_log_likelihood(self.idata_, self.model_)

    @property
    def model_(self) -> Model:
        """The fitted model's description (:class:`rgfactor.generative.model.Model`), from ``config_``."""
        self._check_fitted()
        return describe(self.config_)

    def _global_means(self) -> dict:
        """Posterior means of the global variables (all but Z), computed once per fitted posterior."""
        cache = getattr(self, "_means_cache", None)
        if cache is None or cache[0] is not self.idata_:
            post = self.idata_.posterior
            means = {k: np.asarray(post[k].values).mean(axis=(0, 1)) for k in post.data_vars if k != "Z"}
            self._means_cache = cache = (self.idata_, means)
        return cache[1]

    def factor_posterior(self, new_data: MultiViewData, hide: str | None = None) -> NewSubjects:
        """Laplace posterior of the factors of unseen subjects given the fitted globals (posterior means).

        Parameters
        ----------
        new_data : MultiViewData of the new subjects (any subset of the fitted views).
        hide : a view to leave out of the factors' posterior (its values, if given, are ignored).

        Returns
        -------
        NewSubjects with ``arrays`` (preprocessed as the training cohort), ``data`` (model arrays),
        ``params`` (posterior-mean globals), ``mean`` (subject, factor) and ``cov`` (subject, factor,
        factor). See :mod:`rgfactor.inference.newsubjects`.

        Raises
        ------
        DataError  if ``new_data`` is not a MultiViewData or ``hide`` is not a view of the model.
        """
        self._check_fitted()
        if not isinstance(new_data, MultiViewData):
            raise DataError(f"expected a MultiViewData, got {type(new_data).__name__}.")
        if self.config_.region_views:
            raise SpecError("transform/predict of new subjects is not available for multi-region models yet "
                            "(region-level views); the fitted subjects' factors are in factors_ and "
                            "idata_.posterior['Z_region'].")
        if hide is not None and hide not in self.config_.view_names:
            raise DataError(f"unknown view '{hide}'; the model has views {list(self.config_.view_names)}.")
        check_new_data({v: list(df.columns) for v, df in new_data.views.items() if v != hide},
                       {v: vp.features for v, vp in self.preprocessing_.views.items()}, new_data.site,
                       self.preprocessing_.sites)
        arrays = new_data.to_arrays(self.preprocessing_)
        if self.config_.factor_prior == "gp":
            arrays = replace(arrays, coordinates=check_new_coordinates(
                new_data.coordinates, self.config_.coordinate_names, self.model_.factors.basis))
        model = self.model_
        return new_subject_posterior(model, self._global_means(), arrays, model.prepare_data(model_data(arrays)),
                                     hide=hide)

    def transform(self, new_data: MultiViewData) -> xr.DataArray:
        """Factors of unseen subjects (Laplace posterior mode given the fitted globals), dims (subject, factor).

        Subjects may have any subset of the fitted views; preprocessing is the one fitted on the
        training cohort. See :mod:`rgfactor.inference.newsubjects`.
        """
        import xarray as xr

        post = self.factor_posterior(new_data)
        return xr.DataArray(np.asarray(post.mean), dims=[SUBJECT, FACTOR],
                            coords={SUBJECT: list(post.arrays.subjects), FACTOR: factor_labels(self.config_.n_factors)})

    def predict(self, new_data: MultiViewData, view: str, *, num_draws: int = 200) -> xr.DataArray:
        """Posterior mean of ``view`` for unseen subjects, dims (subject, <view>_feature).

        Model scale: standardised (transformed) values for Gaussian views, probabilities for
        Bernoulli views, expected counts per unit size factor for count views. The subjects' own
        values of ``view``, if given, are ignored (predict genomics from imaging).
        """
        import xarray as xr

        post = self.factor_posterior(new_data, hide=view)
        mu = predictive_mean(self.model_, view, post.params, post.data, post.mean, post.cov, num_draws=num_draws,
                             random_state=self.random_state)
        return xr.DataArray(mu, dims=[SUBJECT, feature_dim(view)],
                            coords={SUBJECT: list(post.arrays.subjects),
                                    feature_dim(view): list(post.arrays.view(view).features)})

    # --------------------------------------------------------------- site effects
    def harmonize(self, data: MultiViewData) -> dict:
        """Features with the site location and scale effects removed and the biology kept, on each
        view's own data scale.

        Gaussian views: y~ = (fitted biological mean) + (residual rescaled from the subject's site noise
        sd to the training cohort's pooled noise sd), back through the fitted transform (the ComBat output of Johnson, Li &
        Rabinovic 2007 and Fortin et al. 2018, but from the joint model's posterior, biology = factors
        and covariates). Count views: quantile matching under the fitted negative binomial with and
        without the site effects (ComBat-seq, Zhang et al. 2020). Bernoulli views are returned as given.

        Parameters
        ----------
        data : MultiViewData, the training subjects or new ones. Subjects of a site the fit saw use its
            fitted effects; a site it did not see gets its effects estimated from its own subjects under
            the fitted hierarchical prior (Gaussian views), with a DataWarning below 5 subjects.

        Returns
        -------
        dict view -> DataFrame (subject x feature), for every view with site effects; NaN where a value
        is missing. The factors are the Laplace posterior mode given the fitted globals.

        Raises
        ------
        SpecError  if the model was fitted without site effects.
        DataError  for data that do not match the fit (see :meth:`factor_posterior`).
        """
        import pandas as pd

        from rgfactor.posterior.sites import harmonize, site_proportions

        self._check_fitted()
        if self.config_.site_effects == "none":
            raise SpecError("harmonize() needs a model fitted with site effects (site_effects=True).")
        with warnings.catch_warnings():   # new sites: harmonize estimates their effects (and says so below 5)
            warnings.filterwarnings("ignore", message=r"site\(s\) .* were not in the fit", category=DataWarning)
            post = self.factor_posterior(data)
        weights = site_proportions(self.idata_.constant_data["site_code"], len(self.preprocessing_.sites))
        out = harmonize(self.model_, self.preprocessing_, post.params, post.arrays, post.data, np.asarray(post.mean),
                        site_weights=weights)
        subjects = list(post.arrays.subjects)
        return {v: pd.DataFrame(x, index=pd.Index(subjects, name=SUBJECT),
                                columns=list(post.arrays.view(v).features)) for v, x in out.items()}

    def variance_components(self, max_draws: int = 200) -> xr.Dataset:
        """Feature stability: per view and feature, the posterior mean and 94% HDI of the shares of
        latent-scale variance due to the factors, covariates, site and residual, and the site
        intra-class correlation (site share).

        Returns
        -------
        xarray Dataset: ``share_<view>`` dims (<view>_feature, component, statistic) with component in
        (factors, covariates, site, residual) and statistic in (mean, hdi_3%, hdi_97%);
        ``site_icc_<view>`` dims (<view>_feature, statistic). Definitions:
        :func:`rgfactor.posterior.sites.variance_components`; ``max_draws`` posterior draws are used.
        """
        from rgfactor.posterior.sites import variance_components

        self._check_fitted()
        return variance_components(self.model_, self.idata_, max_draws=max_draws)

    def to_mudata(self, mdata):
        """Write the fit into ``mdata`` (in place; returned): posterior mean factors in
        ``obsm["X_rgfactor"]`` (subject x factor, NaN for subjects not in the fit), each view's posterior
        mean loadings in ``mod[view].varm["W_rgfactor"]`` (feature x factor, on the preprocessed scale),
        factor names and variance explained in ``uns["rgfactor"]``. An AnnData takes a one-view fit.

        Raises
        ------
        DataError  if a view is not a modality of ``mdata`` or no name matches the fit.
        """
        from rgfactor.data.scverse import write_mudata

        self._check_fitted()
        return write_mudata(mdata, self.factors_, self.loadings_, self.variance_explained())

    # --------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write the fit to directory ``path``: posterior.nc (InferenceData) and model.json. No pickle."""
        from rgfactor.posterior.io import save_fit

        self._check_fitted()
        save_fit(self, path)


def run_recorded(estimator, fit):
    """Run ``fit() -> dict`` (attribute name -> value, with a 'diagnostics_' dict) under Ctrl-C
    protection; the warnings it raised are shown once it is done and kept in diagnostics_['warnings'],
    with the wall time; then the attributes are set on ``estimator`` (all or none). Returns it."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, interruptible(), blas_threads():
        warnings.simplefilter("always")
        fitted = fit()
    for w in caught:   # shown to the user once the fit is done, and kept in diagnostics_
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    earlier = list(fitted["diagnostics_"].get("warnings", []))   # the engine's own, not raised as warnings
    fitted["diagnostics_"]["warnings"] = list(dict.fromkeys(earlier + [str(w.message) for w in caught]))
    fitted["diagnostics_"]["wall_time_s"] = time.perf_counter() - t0
    for name, value in fitted.items():
        setattr(estimator, name, value)
    return estimator


def _store_params(estimator, params: dict) -> None:
    """Store the __init__ arguments unchanged as attributes (scikit-learn convention)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
