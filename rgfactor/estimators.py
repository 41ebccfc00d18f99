"""Estimator classes: the Python front door (scikit-learn conventions, fitted attributes end in ``_``)."""

from __future__ import annotations

import time
import warnings
import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator

from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import FACTOR, SUBJECT, VIEW, factor_labels, feature_dim
from rgfactor.errors import DataError, NotFittedError, SpecError
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.model import Model, config_from_arrays, describe, model_data
from rgfactor.inference.engines import resolve_engine, run_engine
from rgfactor.inference.init import pca_init
from rgfactor.inference.newsubjects import NewSubjects, new_subject_posterior, predictive_mean
from rgfactor.posterior.diagnostics import nuts_diagnostics
from rgfactor.posterior.idata import build_posterior


class FactorModel(BaseEstimator):
    """Shared machinery of the factor-model estimators (GFA, PCCA, PPLS). Not used directly."""

    structure = "base"

    # --------------------------------------------------------------- structure hooks
    def _activity(self, arrays) -> dict | None:
        return None

    def _n_factors(self, arrays=None) -> int:
        return self.n_factors

    def _response_views(self) -> tuple[str, ...]:
        return ()

    def _init(self, arrays, config: ModelConfig) -> dict:
        """Initial values of the NumPyro engines (structure hook; PPLS adapts the response views)."""
        return pca_init(arrays, config.n_factors, self.random_state)

    # --------------------------------------------------------------- fitting
    def _config(self, arrays, sparsity: str) -> ModelConfig:
        return config_from_arrays(arrays, self._n_factors(arrays), sparsity=sparsity, site_effects=self.site_effects,
                                  activity=self._activity(arrays), response_views=self._response_views())

    def fit(self, data: MultiViewData, y=None, *, method: str | None = None, progress: bool | None = None):
        """Fit the model to a cohort.

        Parameters
        ----------
        data : MultiViewData.
        y : ignored (scikit-learn signature).
        method : 'auto' (default: ``self.method``; 'cavi' when the model and prior allow it, else
            'svi'), 'svi', 'nuts' (full posterior) or 'cavi' (closed-form variational engine).
        progress : show a progress bar (default ``self.progress``).

        Returns
        -------
        self

        Raises
        ------
        DataError  if ``data`` is not a MultiViewData; SpecError for an unsupported method/prior pair.
        """
        if not isinstance(data, MultiViewData):
            raise DataError(f"fit expects a MultiViewData (rgf.MultiViewData.from_pandas), got {type(data).__name__}.")
        progress = self.progress if progress is None else progress
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prep = data.fit_preprocessing()
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        arrays = data.to_arrays(prep)

        def build(sparsity):
            config = self._config(arrays, sparsity)
            return config, describe(config)

        method, sparsity, config, model = resolve_engine(method or self.method, self.sparsity, build)
        mdata = model_data(arrays)
        run = run_engine(method, model, arrays, mdata, init=None if method == "cavi" else self._init(arrays, config),
                         max_iter=self.max_iter, tol=self.tol, learning_rate=self.learning_rate,
                         num_draws=self.num_draws, num_warmup=self.num_warmup, num_chains=self.num_chains,
                         random_state=self.random_state, progress=progress)
        diagnostics = {"method": method, "sparsity": sparsity, **run.diagnostics,
                       "warnings": [str(w.message) for w in caught] + run.diagnostics["warnings"]}
        idata, info = build_posterior(run.draws, arrays, mdata, model, sample_stats=run.sample_stats,
                                      rotate=method == "nuts", random_state=self.random_state, method=method)
        if method == "nuts":
            nd = nuts_diagnostics(idata)
            diagnostics["warnings"] += nd.pop("warnings")
            diagnostics.update(nd)
        diagnostics.update(alignment=info["alignment"], wall_time_s=time.perf_counter() - t0)
        self.idata_ = idata
        self.config_ = config
        self.preprocessing_ = prep
        self.diagnostics_ = diagnostics
        self.variance_explained_ = info["variance_explained"]
        self.variance_explained_total_ = info["variance_explained_total"]
        return self

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
        self._check_fitted()
        views = list(self.config_.view_names)
        if total:
            return xr.DataArray(np.asarray(self.variance_explained_total_), dims=[VIEW], coords={VIEW: views})
        return xr.DataArray(np.asarray(self.variance_explained_), dims=[VIEW, FACTOR],
                            coords={VIEW: views, FACTOR: factor_labels(self.config_.n_factors)})

    @property
    def model_(self) -> Model:
        """The fitted model's description (:class:`rgfactor.generative.model.Model`), from ``config_``."""
        self._check_fitted()
        return describe(self.config_)

    def _global_means(self) -> dict:
        post = self.idata_.posterior
        return {k: np.asarray(post[k].mean(("chain", "draw"))) for k in post.data_vars if k != "Z"}

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
        if hide is not None and hide not in self.config_.view_names:
            raise DataError(f"unknown view '{hide}'; the model has views {list(self.config_.view_names)}.")
        arrays = new_data.to_arrays(self.preprocessing_)
        return new_subject_posterior(self.model_, self._global_means(), arrays, model_data(arrays), hide=hide)

    def transform(self, new_data: MultiViewData) -> xr.DataArray:
        """Factors of unseen subjects (Laplace posterior mode given the fitted globals), dims (subject, factor).

        Subjects may have any subset of the fitted views; preprocessing is the one fitted on the
        training cohort. See :mod:`rgfactor.inference.newsubjects`.
        """
        post = self.factor_posterior(new_data)
        return xr.DataArray(np.asarray(post.mean), dims=[SUBJECT, FACTOR],
                            coords={SUBJECT: list(post.arrays.subjects), FACTOR: factor_labels(self.config_.n_factors)})

    def predict(self, new_data: MultiViewData, view: str, *, num_draws: int = 200) -> xr.DataArray:
        """Posterior mean of ``view`` for unseen subjects, dims (subject, <view>_feature).

        Model scale: standardised (transformed) values for Gaussian views, probabilities for
        Bernoulli views, expected counts per unit size factor for count views. The subjects' own
        values of ``view``, if given, are ignored (predict genomics from imaging).
        """
        post = self.factor_posterior(new_data, hide=view)
        mu = predictive_mean(self.model_, view, post.params, post.data, post.mean, post.cov, num_draws=num_draws,
                             random_state=self.random_state)
        return xr.DataArray(mu, dims=[SUBJECT, feature_dim(view)],
                            coords={SUBJECT: list(post.arrays.subjects),
                                    feature_dim(view): list(post.arrays.view(view).features)})

    # --------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write the fit to directory ``path``: posterior.nc (InferenceData) and model.json. No pickle."""
        from rgfactor.posterior.io import save_fit

        self._check_fitted()
        save_fit(self, path)


class GFA(FactorModel):
    """MOFA-like group factor analysis (Klami et al. 2015, IEEE TNNLS 26:2136; Argelaguet et al. 2018,
    Mol Syst Biol 14:e8124) with Gaussian, negative binomial, Bernoulli and Poisson views.

    Parameters
    ----------
    n_factors : K, number of latent factors (surplus factors are shrunk by ARD).
    sparsity : 'auto' (default: ARD only for svi/nuts, spike-and-slab for cavi; the horseshoe
        under mean-field SVI recovers factors less well, 0.91/0.97/0.86 vs 0.98/0.99/0.97),
        'ard' (ARD only), 'horseshoe' or 'spike_and_slab'.
    site_effects : site random intercepts per (view, site, feature) (needs ``site`` in the data).
    method : default inference engine: 'auto' (default: the closed-form CAVI engine when the model and
        prior allow it, else SVI), 'cavi', 'svi' or 'nuts'.
    max_iter : SVI steps or CAVI sweeps at most (default None: 5000 for SVI, 1000 for CAVI).
    tol : relative ELBO change that stops SVI or CAVI (default None: 1e-5 for SVI, 1e-6 for CAVI).
    learning_rate : Adam step size of SVI.
    num_draws : posterior draws kept (per chain for NUTS); num_warmup, num_chains : NUTS settings.
    progress : show progress bars.  random_state : seed; the same seed gives the same fit.

    Attributes
    ----------
    idata_ : arviz.InferenceData (aligned draws; dims subject, factor, <view>_feature, site, ...).
    factors_, loadings_ : posterior means (xarray).  diagnostics_ : dict (ELBO trace or R-hat/ESS).
    preprocessing_ : rgfactor.data.Preprocessing fitted on the training cohort.
    """

    structure = "GFA"

    def __init__(self, n_factors: int = 10, *, sparsity: str = "auto", site_effects: bool = False,
                 method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int = 500, num_warmup: int = 500, num_chains: int = 2, progress: bool = False,
                 random_state: int = 0):
        _store_params(self, locals())


def _store_params(estimator, params: dict) -> None:
    """Store the __init__ arguments unchanged as attributes (scikit-learn convention)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class PCCA(FactorModel):
    """Bayesian probabilistic CCA (Bach & Jordan 2005; Klami, Virtanen & Kaski 2013, JMLR 14:965):
    ``n_shared`` factors load on every view, ``n_specific`` factors per view on that view only.

    Factors are ordered shared first (``Factor1..Factor<n_shared>``), then each view's specific
    factors in view order; the coordinate ``factor_kind`` of the factor dim says which
    ('shared' or '<view>_specific'). Alignment never moves a factor across these groups. Model:
    docs/models/pcca.md. Other parameters and attributes as :class:`GFA`; engines 'svi' and 'nuts'.
    """

    structure = "PCCA"

    def __init__(self, n_shared: int = 2, n_specific: int = 1, *, sparsity: str = "auto", site_effects: bool = False,
                 method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int = 500, num_warmup: int = 500, num_chains: int = 2, progress: bool = False,
                 random_state: int = 0):
        _store_params(self, locals())

    def _n_factors(self, arrays=None) -> int:
        return self.n_shared + len(arrays.views) * self.n_specific

    def _activity(self, arrays) -> dict:
        names = [v.name for v in arrays.views]
        act = {}
        for i, name in enumerate(names):
            spec = np.zeros(len(names) * self.n_specific, dtype=int)
            spec[i * self.n_specific:(i + 1) * self.n_specific] = 1
            act[name] = np.concatenate([np.ones(self.n_shared, dtype=int), spec])
        return act

    def factor_kinds(self) -> list[str]:
        """'shared' or '<view>_specific' per factor, in the fitted factor order."""
        self._check_fitted()
        return ["shared"] * self.n_shared + [f"{v}_specific" for v in self.config_.view_names
                                              for _ in range(self.n_specific)]

    def fit(self, data: MultiViewData, y=None, *, method: str | None = None, progress: bool | None = None):
        if self.n_shared < 1 or self.n_specific < 0:
            raise SpecError(f"PCCA needs n_shared >= 1 and n_specific >= 0, got {self.n_shared}, {self.n_specific}.")
        super().fit(data, y, method=method, progress=progress)
        self.idata_.posterior = self.idata_.posterior.assign_coords(factor_kind=(FACTOR, self.factor_kinds()))
        return self

    fit.__doc__ = FactorModel.fit.__doc__

    def canonical_correlations(self, view1: str, view2: str, summary: bool = False):
        """Posterior of the model-implied canonical correlations between two views
        (:mod:`rgfactor.posterior.canonical`): DataArray (chain, draw, component), or with
        ``summary=True`` a DataFrame of posterior mean and 94% HDI per component."""
        from rgfactor.posterior.canonical import canonical_correlations, summarise

        self._check_fitted()
        rho = canonical_correlations(self.idata_, self.model_, view1, view2)
        return summarise(rho) if summary else rho


class PPLS(FactorModel):
    """Bayesian probabilistic PLS (el Bouhaddani et al. 2018, J Multivar Anal 163:141): predictor
    views load on scores T ~ N(0, I_J), the ``response`` views on U = T B + H, B diagonal ~ N(0, 1),
    H ~ N(0, sigma_h^2 I).

    The factor dim holds 2J columns: Factor1..J are the predictor scores T (active on all views),
    Factor<J+1>..2J the standardised residual scores H / sigma_h (response views only); see
    docs/models/ppls.md. A clinical outcome is a one-feature view (gaussian or bernoulli); a K-class
    outcome a K-feature bernoulli (one-hot) view. Other parameters as :class:`GFA`; every engine ('auto'
    picks the closed-form one, which fits the centred form [T, U] of the same model).

    Parameters
    ----------
    n_components : J.  response : list of view names forming the response block.
    """

    structure = "PPLS"

    def __init__(self, n_components: int = 2, response=None, *, sparsity: str = "auto", site_effects: bool = False,
                 method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int = 500, num_warmup: int = 500, num_chains: int = 2, progress: bool = False,
                 random_state: int = 0):
        _store_params(self, locals())

    def _n_factors(self, arrays=None) -> int:
        return 2 * self.n_components

    def _response_views(self) -> tuple[str, ...]:
        if not self.response:
            raise SpecError("PPLS needs response=[view names], e.g. PPLS(2, response=['outcome']).")
        return (self.response,) if isinstance(self.response, str) else tuple(self.response)

    def _activity(self, arrays) -> dict:
        j, resp = self.n_components, self._response_views()
        names = [v.name for v in arrays.views]
        if set(resp) >= set(names):
            raise SpecError(f"PPLS needs at least one predictor view besides the response {list(resp)}.")
        return {n: np.ones(2 * j, dtype=int) if n in resp else np.r_[np.ones(j, dtype=int), np.zeros(j, dtype=int)]
                for n in names}

    def _init(self, arrays, config: ModelConfig) -> dict:
        j = self.n_components
        init = pca_init(arrays, j, self.random_state)
        rng = np.random.default_rng(self.random_state)
        init["Z"] = np.concatenate([init["Z"], rng.normal(0.0, 0.1, init["Z"].shape)], axis=1)
        for v in arrays.views:
            if v.name in config.response_views:
                init[f"ppls_C_{v.name}"] = init.pop(f"W_{v.name}")
            else:
                init[f"W_{v.name}"] = np.concatenate([init[f"W_{v.name}"], np.zeros_like(init[f"W_{v.name}"])], 1)
                init[f"alpha_{v.name}"] = np.r_[init[f"alpha_{v.name}"], np.ones(j)]
        init["ppls_B"], init["ppls_sigma_h"] = np.ones(j), np.asarray(0.5)
        return init

    def predict(self, new_data: MultiViewData, view: str | None = None, *, num_draws: int = 200):
        """Posterior predictive mean of the response for unseen subjects (their response values, if
        given, are ignored): a DataArray (subject, <view>_feature) for a single response view, else a
        dict view -> DataArray. With ``view`` given, as :meth:`GFA.predict` for that view."""
        self._check_fitted()
        if view is not None:
            return super().predict(new_data, view, num_draws=num_draws)
        resp = self.config_.response_views
        data = new_data
        if any(r in new_data.views for r in resp):  # drop the response so it cannot inform the factors
            from dataclasses import replace

            data = replace(new_data, views={k: v for k, v in new_data.views.items() if k not in resp})
        out = {r: super(PPLS, self).predict(data, r, num_draws=num_draws) for r in resp}
        return out[resp[0]] if len(resp) == 1 else out


ESTIMATORS = {"GFA": GFA, "PCCA": PCCA, "PPLS": PPLS}


def load(path):
    """Load a fit written by ``model.save(path)``; returns the fitted estimator (GFA, PCCA or PPLS).

    Raises
    ------
    RGFactorError  if ``path`` holds no fit or a fit of an unknown class.
    """
    from pathlib import Path

    from rgfactor.errors import RGFactorError
    from rgfactor.posterior.io import read_fit, restore

    meta, idata = read_fit(path)
    cls = ESTIMATORS.get(meta.get("class"))
    if cls is None:
        raise RGFactorError(f"'{Path(path)}' holds an unknown model class '{meta.get('class')}'.")
    return restore(cls(**meta["params"]), meta, idata)
