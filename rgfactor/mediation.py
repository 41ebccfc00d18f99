"""``rgf.Mediation``: does an exposure (a mutation) act on an outcome through the imaging phenotype?

    med = rgf.Mediation(mediators="factors", n_factors=5, outcome="bernoulli", random_state=0)
    med.fit(data, exposure=clin["IDH1"], outcome=clin["death"], confounders=clin[["site"]])
    med.summary()                                     # NIE, NDE, TE, PM, ACME/ADE, per-factor NIE
    med.sensitivity(rho=np.linspace(-0.9, 0.9, 19))   # effects under mediator-outcome error correlation

Mediators are the latent factors of the data's views (:mod:`rgfactor.generative.mediation`: one joint
model, so the factors' uncertainty propagates into the effects) or the observed features of listed
Gaussian views (:mod:`rgfactor.generative.mediation_observed`). Estimands are computed per posterior
draw by the mediation formula (:mod:`rgfactor.posterior.mediation`). Model page: docs/models/mediation.md.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator

from rgfactor.data.checks import check_factor_count, check_positive_int, check_site_setting
from rgfactor.data.mediation import OUTCOMES, check_exposure_not_a_feature, mediation_inputs, outcome_view
from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import FACTOR, SUBJECT, feature_dim
from rgfactor.errors import ConvergenceWarning, DataError, NotFittedError, SpecError
from rgfactor.estimators.base import _store_params, run_recorded

METHODS = ("nuts", "svi", "cavi")


class Mediation(BaseEstimator):
    """Bayesian causal mediation analysis with latent-factor or observed mediators.

    Parameters
    ----------
    mediators : 'factors' (default: the latent factors of all views of the data, fitted jointly with
        the outcome) or a list of view names whose (Gaussian) features are the observed mediators (one
        feature: the single-mediator model; several: spike-and-slab paths with per-mediator inclusion).
    n_factors : K, latent mediators ('factors' only; surplus factors are shrunk by ARD).
    outcome : 'gaussian', 'bernoulli' (effects on the probability scale) or 'survival' (Weibull
        proportional hazards with right censoring; effects as differences in survival probability at
        ``horizon`` and in restricted mean survival time up to it).
    interaction : include exposure x mediator interactions on the outcome (NumPyro engines).
    control_value, treat_value : exposure values compared (default 0 and 1 for a binary exposure;
        the mean and the mean + 1 sd for a continuous one), on the exposure's own scale.
    horizon : survival: the time horizon of the estimands, in the outcome's time unit (default: the
        median follow-up time).
    sparsity : loadings prior of the mediator views ('ard' or 'spike_and_slab' with method='cavi').
    site_effects : site effects on the mediator views' features, as in rgf.GFA (False, True,
        'location', 'location_scale'; needs a site in the data). The site as a confounder of the
        mediator-outcome path goes into ``confounders``.
    method : 'nuts' (default; the full posterior: cohorts are small), 'svi', or 'cavi' (latent
        mediators with a gaussian or bernoulli outcome and no interaction; mean-field, intervals too
        narrow).
    max_iter, tol, learning_rate, num_draws, num_warmup, num_chains : engine settings as in rgf.GFA.
    progress : progress bars ('auto', True, False).  random_state : seed; the same seed gives the same fit.

    Attributes
    ----------
    idata_ : arviz.InferenceData of the model's variables (aligned for latent mediators).
    effects_ : xarray.Dataset of posterior draws of NIE, NDE, TE, PM, ACME_control, ACME_treated,
        ADE_control, ADE_treated and NIE_mediator (dim ``factor``, ``<view>_feature`` for one mediator
        view, or ``mediator`` = '<view>/<feature>' for several); survival adds NIE_rmst, NDE_rmst,
        TE_rmst, NIE_mediator_rmst. Units: the outcome's (gaussian), probability (bernoulli), survival
        probability at the horizon and time (RMST).
    factors_ : posterior mean factors (subject, factor) (latent mediators).
    inputs_ : the encoded exposure, outcome and confounders (rgfactor.data.mediation.MediationInputs).
    diagnostics_ : dict (engine, run time, R-hat/ESS of the effects for NUTS, warnings).
    """

    def __init__(self, mediators="factors", n_factors: int = 5, outcome: str = "gaussian", *, interaction: bool = False,
                 control_value: float | None = None, treat_value: float | None = None, horizon: float | None = None,
                 sparsity: str = "ard", site_effects: bool = False, method: str = "nuts", max_iter: int | None = None,
                 tol: float | None = None, learning_rate: float = 0.05, num_draws: int | None = None,
                 num_warmup: int = 500, num_chains: int = 2, progress="auto", random_state: int = 0):
        _store_params(self, locals())

    # --------------------------------------------------------------- settings
    @property
    def latent(self) -> bool:
        return isinstance(self.mediators, str) and self.mediators == "factors"

    def _mediator_views(self, data: MultiViewData) -> list[str]:
        if self.latent:
            return list(data.view_names)
        names = [self.mediators] if isinstance(self.mediators, str) else list(self.mediators or [])
        if not names:
            raise SpecError("mediators must be 'factors' or a non-empty list of view names.")
        for v in names:
            if v not in data.views:
                raise SpecError(f"mediator view '{v}' is not a view of the data {list(data.view_names)}.")
            if data.likelihoods[v] != "gaussian":
                raise SpecError(f"observed mediators must be gaussian views; view '{v}' is {data.likelihoods[v]}.")
        return names

    def _check_settings(self) -> None:
        if self.outcome not in OUTCOMES:
            raise SpecError(f"unknown outcome '{self.outcome}'; choose one of {OUTCOMES}.")
        if self.method not in METHODS:
            raise SpecError(f"unknown method '{self.method}'; choose one of {METHODS}.")

    # --------------------------------------------------------------- fitting
    def fit(self, data: MultiViewData, exposure=None, outcome=None, confounders=None, *, method: str | None = None,
            progress=None):
        """Fit the mediation model and compute the effects.

        Parameters
        ----------
        data : MultiViewData holding the mediator views.
        exposure : Series (subject): 0/1 (1 = exposed) or continuous.
        outcome : Series (subject) for 'gaussian'/'bernoulli'; DataFrame (subject; columns time, event)
            for 'survival'.
        confounders : DataFrame (subject, confounder) or None: confounders of the exposure-mediator,
            exposure-outcome and mediator-outcome relations (site among them: pass the site column;
            text columns are one-hot encoded).
        method, progress : override the estimator's settings.

        Returns
        -------
        self

        Raises
        ------
        DataError  for bad inputs (see rgfactor.data.mediation), an exposure that is also a feature of
            a mediator view; SpecError for unsupported settings.
        """
        if not isinstance(data, MultiViewData):
            raise DataError(f"fit expects a MultiViewData (rgf.MultiViewData.from_pandas), got {type(data).__name__}.")
        if exposure is None or outcome is None:
            raise DataError("Mediation.fit needs exposure= and outcome= (Series or DataFrames indexed by subject).")
        self._check_settings()
        for name in ("idata_", "effects_", "inputs_", "diagnostics_", "model_", "config_", "_data", "_x_contrast"):
            self.__dict__.pop(name, None)
        method = method or self.method
        if method not in METHODS:
            raise SpecError(f"unknown method '{method}'; choose one of {METHODS}.")
        progress = self.progress if progress is None else progress
        return run_recorded(self, lambda: self._fit(data, exposure, outcome, confounders, method, progress))

    def _prepare(self, data, exposure, outcome, confounders):
        """(inputs, arrays with the outcome view, mediator view names)."""
        views = self._mediator_views(data)
        check_exposure_not_a_feature(data, views, exposure)
        subjects = list(data.subjects)
        if not self.latent:   # observed mediators: complete cases
            full = np.all([data.views[v].notna().all(axis=1).to_numpy() for v in views], axis=0)
            if not full.all():
                warnings.warn(f"{int((~full).sum())} subject(s) with missing mediator values left out of the mediation "
                              f"analysis, e.g. '{data.subjects[np.flatnonzero(~full)[0]]}'.", stacklevel=4)
            subjects = [s for s, f in zip(subjects, full) if f]
        inputs = mediation_inputs(subjects, exposure, outcome, confounders, self.outcome,
                                  keep_missing_outcome=self.latent)
        sub = data.subset(list(inputs.subjects))
        if not self.latent:
            sub = sub.select_views(views)
        arrays = sub.fit_arrays()[1]
        arrays = replace(arrays, exposure=inputs.exposure, confounders=inputs.confounders,
                         confounder_names=inputs.confounder_names)
        return inputs, arrays, views, sub

    def _fit(self, data, exposure, outcome, confounders, method, progress) -> dict:
        from rgfactor.generative.model import model_data

        inputs, arrays, views, sub = self._prepare(data, exposure, outcome, confounders)
        x0, x1 = self._contrast(inputs)
        n_conf = len(inputs.confounder_names)
        med_arrays = arrays
        arrays = replace(arrays, views=arrays.views + (outcome_view(inputs, self.outcome),))
        if self.latent:
            model, config = self._latent_model(med_arrays, sub, n_conf)
        else:
            from rgfactor.generative.mediation_observed import ObservedMediation

            model = ObservedMediation(tuple((v.name, v.n_features) for v in med_arrays.views), self.outcome, n_conf,
                                      bool(self.interaction))
            config = None
        if method not in model.engines:
            raise SpecError(f"method='{method}' cannot fit this mediation model (engines: {sorted(model.engines)}): "
                            "the closed-form engine needs latent mediators, a gaussian or bernoulli outcome and no "
                            "interaction.")
        mdata = model_data(arrays)
        init = self._init(model, config, med_arrays) if method != "cavi" else None
        from rgfactor.inference.engines import run_engine

        run = run_engine(method, model, arrays, mdata, init=init, max_iter=self.max_iter, tol=self.tol,
                         learning_rate=self.learning_rate, num_draws=self.num_draws, num_warmup=self.num_warmup,
                         num_chains=self.num_chains, random_state=self.random_state, progress=progress)
        idata, info = self._posterior(run, model, arrays, mdata, method, inputs)
        data_np = {k: np.asarray(v) for k, v in mdata.items() if k in ("exposure", "confounders")}
        effects = self._effects(model, idata, data_np, x0, x1, inputs, views, med_arrays)
        diagnostics = {"method": method, "mediators": "factors" if self.latent else list(views), **run.diagnostics,
                       **info, "n_subjects": arrays.n_subjects, "exposure_kind": inputs.exposure_kind,
                       "contrast": [self._original(inputs, x0), self._original(inputs, x1)]}
        if method == "nuts":   # R-hat, ESS, divergences and BFMI of the reported effects (the shared checks)
            import arviz as az

            from rgfactor.posterior.diagnostics import nuts_diagnostics

            names = [n for n in ("NIE", "NDE", "TE") if n in effects]
            nd = nuts_diagnostics(az.InferenceData(posterior=effects[names], sample_stats=idata.sample_stats))
            for message in nd.pop("warnings"):
                warnings.warn(message, ConvergenceWarning, stacklevel=3)
            summ = nd.pop("summary")
            diagnostics.update(nd, effects_r_hat=dict(zip(summ["variable"], summ["r_hat"])),
                               effects_ess_bulk=dict(zip(summ["variable"], summ["ess_bulk"])))
        return {"idata_": idata, "effects_": effects, "inputs_": inputs, "diagnostics_": diagnostics,
                "model_": model, "config_": config, "_data": data_np, "_x_contrast": (x0, x1)}

    def _latent_model(self, arrays, data, n_conf):
        from rgfactor.generative.mediation import MediationConfig, describe_mediation
        from rgfactor.generative.model import config_from_arrays

        k = check_positive_int("n_factors", self.n_factors)
        check_factor_count(k, arrays.n_subjects, {v.name: v.n_features for v in arrays.views})
        site = check_site_setting(self.site_effects, data.site)
        base = config_from_arrays(arrays, k, sparsity=self.sparsity, site_effects=site)
        config = MediationConfig(base, self.outcome, n_conf, bool(self.interaction))
        return describe_mediation(config), config

    def _init(self, model, config, med_arrays) -> dict:
        """Initial values of the NumPyro engines: latent mediators start from a closed-form (CAVI) fit of
        the factor part alone (factors, loadings, exposure paths); the outcome's parameters start at
        their prior medians."""
        if config is None:
            return {}
        from rgfactor.generative.mediation import describe_mediation
        from rgfactor.inference.cavi import fit_cavi

        start = config if config.base.sparsity in ("ard", "spike_and_slab") else \
            replace(config, base=replace(config.base, sparsity="spike_and_slab"))   # a conjugate loadings prior
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = fit_cavi(describe_mediation(start, with_outcome=False), med_arrays, max_iter=300, tol=1e-5,
                           num_draws=50, random_state=self.random_state)
        return {k: np.asarray(v).mean(axis=(0, 1)) for k, v in res.draws.items()}

    def _posterior(self, run, model, arrays, mdata, method, inputs):
        from rgfactor.posterior.idata import build_posterior
        from rgfactor.posterior.mediation import observed_mediators_idata

        if self.latent:
            idata, info = build_posterior(run.draws, arrays, mdata, model, sample_stats=run.sample_stats,
                                          multimodal=method == "nuts", rotate=method == "nuts",
                                          random_state=self.random_state, method=method)
            if inputs.confounder_names:
                idata.posterior = idata.posterior.assign_coords(confounder=list(inputs.confounder_names))
            return idata, {"alignment": info["alignment"], "variance_explained": np.asarray(info["variance_explained"]).tolist()}
        return observed_mediators_idata(run.draws, model, arrays, run.sample_stats, inputs.confounder_names,
                                        self.random_state), {}

    def _effects(self, model, idata, data_np, x0, x1, inputs, views, med_arrays) -> xr.Dataset:
        from rgfactor.posterior.mediation import mediation_effects

        post = idata.posterior
        posterior = {k: post[k].values for k in post.data_vars if SUBJECT not in post[k].dims}
        if self.latent:
            dim, labels = FACTOR, list(post[FACTOR].values)
        elif len(views) == 1:
            dim, labels = feature_dim(views[0]), list(med_arrays.views[0].features)
        else:
            dim, labels = "mediator", [f"{v.name}/{f}" for v in med_arrays.views for f in v.features]
        return mediation_effects(model, posterior, data_np, x0, x1, horizon=self._horizon(inputs),
                                 scale=inputs.outcome_scale, mediator_dim=dim, mediator_labels=labels)

    def _contrast(self, inputs) -> tuple[float, float]:
        if inputs.exposure_kind == "binary":
            c = 0.0 if self.control_value is None else float(self.control_value)
            t = 1.0 if self.treat_value is None else float(self.treat_value)
        else:
            c = inputs.exposure_mean if self.control_value is None else float(self.control_value)
            t = inputs.exposure_mean + inputs.exposure_sd if self.treat_value is None else float(self.treat_value)
        if c == t:
            raise SpecError(f"control_value and treat_value are equal ({c}): no contrast to estimate.")
        return inputs.exposure_value(c), inputs.exposure_value(t)

    @staticmethod
    def _original(inputs, x: float) -> float:
        return float(x * inputs.exposure_sd + inputs.exposure_mean)

    def _horizon(self, inputs) -> float | None:
        """The survival horizon in the model's time unit (default: the median follow-up, i.e. 1)."""
        if self.outcome != "survival":
            return None
        if self.horizon is None:
            return 1.0
        if not float(self.horizon) > 0:
            raise SpecError(f"horizon must be a positive time, got {self.horizon!r}.")
        return float(self.horizon) / inputs.outcome_scale

    # --------------------------------------------------------------- results
    def _check_fitted(self):
        if not hasattr(self, "effects_"):
            raise NotFittedError("this Mediation is not fitted yet; call fit(data, exposure=..., outcome=...) first.")

    @property
    def factors_(self) -> xr.DataArray:
        """Posterior mean factors, dims (subject, factor) (latent mediators only)."""
        self._check_fitted()
        if "Z" not in self.idata_.posterior:
            raise SpecError("factors_ exists for latent mediators (mediators='factors') only.")
        return self.idata_.posterior["Z"].mean(("chain", "draw"))

    @property
    def horizon_(self) -> float | None:
        """The survival horizon used, in the outcome's time unit."""
        self._check_fitted()
        h = self._horizon(self.inputs_)
        return None if h is None else h * self.inputs_.outcome_scale

    def summary(self, hdi_prob: float = 0.94) -> pd.DataFrame:
        """DataFrame, index = estimand (NIE_mediator[label] per mediator), columns mean, sd, hdi_3%,
        hdi_97% (highest-density interval of ``hdi_prob``) and p_positive = P(effect > 0 | data)."""
        from rgfactor.posterior.mediation import summarize

        self._check_fitted()
        return summarize(self.effects_, hdi_prob)

    def sensitivity(self, rho=None, *, draws: bool = False, hdi_prob: float = 0.94):
        """NIE and NDE when the mediator and outcome errors correlate (sequential ignorability violated),
        for gaussian and bernoulli outcomes without interaction (rgfactor.posterior.mediation.sensitivity).

        Parameters
        ----------
        rho : correlations in (-1, 1) (default: -0.9 to 0.9 in steps of 0.1).
        draws : return the posterior draws (xarray Dataset: NIE, NDE (rho, chain, draw); TE) instead of
            the summary table.

        Returns
        -------
        DataFrame (rho, estimand, mean, sd, hdi_3%, hdi_97%, p_positive) with
        ``attrs['rho_at_zero_NIE']``: the rho at which the posterior mean NIE is 0.
        """
        from rgfactor.posterior.mediation import sensitivity, sensitivity_table

        self._check_fitted()
        rho = np.round(np.linspace(-0.9, 0.9, 19), 10) if rho is None else rho
        post = self.idata_.posterior
        posterior = {k: post[k].values for k in post.data_vars if SUBJECT not in post[k].dims}
        x0, x1 = self._x_contrast
        sens = sensitivity(self.model_, posterior, self._data, rho, x0, x1, scale=self.inputs_.outcome_scale)
        return sens if draws else sensitivity_table(sens, hdi_prob)

    @property
    def effect_unit_(self) -> str:
        """The scale of the effects, in words (the report's axis label)."""
        self._check_fitted()
        return (f"survival probability at time {self.horizon_:.3g}" if self.outcome == "survival" else
                "probability" if self.outcome == "bernoulli" else f"outcome units ({self.inputs_.outcome_name})")

    def report(self, out_dir, *, title: str = "Mediation analysis", hdi_prob: float = 0.94, **fields):
        """Write the HTML report (figures, tables, Methods) of a latent-mediator fit into ``out_dir``,
        with the mediation section (forest plot of NIE/NDE/TE and per-factor NIE, LaTeX table).

        ``fields``: further arguments of :func:`rgfactor.report.write_report` (description, spec_text,
        labels, diagnostics (default ``diagnostics_``), extra_tables). Returns the path of report.html.
        Raises SpecError for observed mediators (no factors to report: use
        :func:`rgfactor.report.plot_mediation_forest` on :meth:`summary`)."""
        from rgfactor.report import write_report

        self._check_fitted()
        if not self.latent:
            raise SpecError("report() needs latent mediators (mediators='factors'); for observed mediators use "
                            "rgfactor.report.plot_mediation_forest(med.summary()).")
        views = [str(v) for v in self.idata_.observed_data.data_vars]
        ve = xr.DataArray(np.asarray(self.diagnostics_["variance_explained"]), dims=("view", FACTOR),
                          coords={"view": views, FACTOR: list(self.factors_[FACTOR].values)})
        fields.setdefault("diagnostics", dict(self.diagnostics_))
        return write_report(out_dir, title=title, variance_explained=ve, factors=self.factors_,
                            submodels={"mediation": {"summary": self.summary(hdi_prob), "unit": self.effect_unit_}},
                            **fields)

    def inclusion(self) -> pd.DataFrame:
        """Observed mediators: per mediator, the posterior means of a (exposure -> mediator) and b
        (mediator -> outcome), the posterior inclusion probability of both paths (spike-and-slab;
        NaN for a single mediator) and the NIE through it (mean), sorted by inclusion then |NIE|."""
        self._check_fitted()
        if self.latent:
            raise SpecError("inclusion() is for observed mediators; latent mediators report NIE_mediator per factor.")
        post, rows = self.idata_.posterior, []
        nie = self.effects_["NIE_mediator"].mean(("chain", "draw")).values
        i = 0
        for view in self.model_.view_names:
            a = post[f"exposure_effect_{view}"].mean(("chain", "draw"))
            b = post[f"mediator_effect_{view}"].mean(("chain", "draw")).values
            pip = (post[f"inclusion_{view}"].mean(("chain", "draw")).values if f"inclusion_{view}" in post
                   else np.full(len(b), np.nan))
            for j, feat in enumerate(a[feature_dim(view)].values):
                rows.append({"view": view, "mediator": feat, "a": float(a.values[j]), "b": float(b[j]),
                             "inclusion": float(pip[j]), "NIE": float(nie[i])})
                i += 1
        tab = pd.DataFrame(rows)
        return tab.sort_values(["inclusion", "NIE"], ascending=False, key=lambda s: s.abs() if s.name == "NIE" else s,
                               ignore_index=True)
