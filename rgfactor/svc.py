"""``rgf.SVC``: the spatially varying coefficient model as a scikit-learn style estimator.

    svc = rgf.SVC(likelihood="gaussian", random_state=0).fit(y, X, coordinates, groups=None)
    svc.coefficients_            # xarray (unit, term): posterior mean of beta_j(s_i)
    svc.spatial_variation()      # per term: amplitude, spatial sd and share, P(constant)
    svc.predict(X_new, coordinates_new)

Model: :mod:`rgfactor.generative.svc` and :mod:`rgfactor.generative.hsgp` (docs/models/svc.md).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator

from rgfactor.data.spatial import new_unit_arrays, spatial_arrays
from rgfactor.estimators.base import _store_params, run_recorded
from rgfactor.errors import ConvergenceWarning, DataError, NotFittedError, SpecError
from rgfactor.generative.hsgp import (AMPLITUDE_TAIL, HSGPBasis, HSGPSurfaces, inverse_gamma_from_quantiles,
                                     prior_median_lengthscale)
from rgfactor.generative.likelihoods import get as get_likelihood
from rgfactor.generative.svc import SubjectIntercept, SVCModel
from rgfactor.inference.svc import fit_nuts, fit_svi
from rgfactor.posterior.diagnostics import nuts_diagnostics
from rgfactor.posterior.svc import (INTERVAL, amplitude_savage_dickey, build_idata, flatten,
                                    linear_predictor_draws, response_mean, spatial_share, surface_draws,
                                    variation_table)

METHODS = ("auto", "nuts", "svi")
AUTO_NUTS_MAX_UNITS = 3000      # 'auto' uses NUTS up to this many units for non-Gaussian likelihoods
# default draws per chain: the collapsed Gaussian program's NUTS step costs the same at any n, and its
# lengthscales mix at ~0.4 effective draws per draw, where 2 x 500 draws put the max R-hat over 1.01 by chance
# about half the time (benchmarks/results/svc_rhat_noise.md); 2 x 1000 bring that to ~0.1
DEFAULT_DRAWS, COLLAPSED_DRAWS = 500, 1000
SUMMARY_VARIABLES = ["amplitude", "lengthscale", "beta_mean", "spatial_sd"]


def _basis_rule_text(adaptive: bool, refits: list) -> str:
    """How the basis size was chosen, for the posterior attrs and spatial_variation()."""
    if not adaptive:
        return "n_basis given"
    text = ("Riutort-Mayol et al. (2023) rule at the prior median lengthscale, at most (distinct "
            "locations - 1) per coordinate")
    return text + (f"; refit after their lengthscale check failed with n_basis {refits[0]}" if refits else "")


def _pc_rate(upper: float) -> float:
    """Rate of the Exponential with P(x > upper) = AMPLITUDE_TAIL."""
    return -math.log(AMPLITUDE_TAIL) / upper


class SVC(BaseEstimator):
    """Bayesian spatially varying coefficient regression with HSGP coefficient surfaces.

    y_i ~ p(y | eta_i), eta_i = log offset_i + sum_j x_ij beta_j(s_i) + u_subject(i), each
    beta_j(s) = beta_mean_j + f_j(s) with f_j a Hilbert-space GP (Gelfand et al. 2003; Solin & Särkkä
    2020; Riutort-Mayol et al. 2023). Model page: docs/models/svc.md.

    Parameters
    ----------
    likelihood : 'gaussian' (default), 'negative_binomial', 'poisson' or 'bernoulli' (the registry of
        :mod:`rgfactor.generative.likelihoods`).
    kernel : 'squared_exponential' (default), 'matern52' or 'matern32'.
    lengthscale_range : (lower, upper) lengthscales, as fractions of the largest half-range of the
        coordinates, holding all but 1% + 1% of the inverse-gamma lengthscale prior. Default (0.3, 3):
        surfaces from roughly 15% of the extent to nearly linear. The lower end bounds the number of
        basis functions: lower it for more local surfaces, at O(m^D) more cost.
    n_basis, boundary_factor : override the rule (int/float or one per coordinate). Default basis
        (Riutort-Mayol et al. 2023, Sec. 4.3, their iterative procedure): the rule at the prior median
        lengthscale, at most (distinct locations - 1) functions per coordinate; if their diagnostic
        fails (a posterior median lengthscale below the shortest the basis resolves), one refit with
        the rule at that lengthscale. Reported as ``n_basis`` / ``basis_rule`` in spatial_variation().
    amplitude_scale : U of the amplitude's PC prior, P(amplitude_j > U s_j) = 0.05, with s_j = sd(y) /
        rms(x_j) (Gaussian) or 1 / rms(x_j) (link scale): default 1.
    coefficient_scale : prior sd of beta_mean_j in the same units (default 2.5, weakly informative).
    method : 'auto' (NUTS for Gaussian responses and up to 3,000 units otherwise, else SVI), 'nuts', 'svi'.
    num_draws, num_warmup, num_chains, target_accept : NUTS settings (num_draws also the SVI draws). Default
        num_draws: 1000 per chain for NUTS on the collapsed Gaussian program (for R-hat < 1.01 with 2 chains;
        its cost per draw does not grow with the number of units), else 500.
    max_iter, tol, learning_rate : SVI settings (defaults 20,000 steps, 1e-4, 0.01).
    progress : show progress.  random_state : seed; the same seed gives the same fit.

    Attributes
    ----------
    idata_ : arviz.InferenceData; posterior ``beta`` (unit, term), ``beta_mean``, ``amplitude``,
        ``lengthscale``, ``spatial_sd`` (term), ``gp_weight`` (term, basis), noise/dispersion
        (``sigma_response`` / ``dispersion_response``), ``subject_effect`` (subject) with groups.
        Its posterior attrs hold the basis (n_basis, boundary_factor, ...).
    coefficients_ : DataArray (unit, term), posterior mean of the surfaces.
    diagnostics_ : dict: method, R-hat/ESS/divergences (NUTS) or the ELBO trace (SVI), warnings, timings.
    model_ : the :class:`rgfactor.generative.svc.SVCModel`.
    """

    def __init__(self, likelihood: str = "gaussian", *, kernel: str = "squared_exponential",
                 lengthscale_range: tuple = (0.3, 3.0), n_basis=None, boundary_factor=None,
                 amplitude_scale: float = 1.0, coefficient_scale: float = 2.5, method: str = "auto",
                 num_draws: int | None = None, num_warmup: int = 500, num_chains: int = 2, target_accept: float = 0.9,
                 max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.01,
                 progress: bool = False, random_state: int = 0):
        _store_params(self, locals())

    # --------------------------------------------------------------- model
    def _build(self, arrays, resolve: float | None = None, basis: HSGPBasis | None = None) -> SVCModel:
        """The model for ``arrays``; the basis by the rule for ``resolve`` unless ``basis`` (a fitted
        one, on load) is given."""
        lik = get_likelihood(self.likelihood)
        if self.amplitude_scale <= 0 or self.coefficient_scale <= 0:
            raise SpecError(f"amplitude_scale and coefficient_scale must be positive, got {self.amplitude_scale}, "
                            f"{self.coefficient_scale}.")
        lo_hi = tuple(float(v) for v in self.lengthscale_range)
        if len(lo_hi) != 2:
            raise SpecError(f"lengthscale_range must be (lower, upper), got {self.lengthscale_range}.")
        if basis is None:
            basis = HSGPBasis.from_coordinates(arrays.coords, self.kernel, lo_hi, self.n_basis,
                                               self.boundary_factor, resolve=resolve)
        obs = arrays.mask
        y = arrays.y[obs]
        rms = np.sqrt(np.mean(arrays.design**2, axis=0))
        if lik.link == "identity":
            y_scale = float(np.std(y)) if np.std(y) > 0 else 1.0
            baseline = float(np.mean(y - arrays.offset[obs]))
        elif lik.link == "log":
            y_scale, baseline = 1.0, math.log((y.sum() + 0.5) / np.exp(arrays.offset[obs]).sum())
        else:
            p = min(max(float(y.mean()), 0.01), 0.99)
            y_scale, baseline = 1.0, math.log(p / (1 - p))
        unit = y_scale / rms
        a, b = inverse_gamma_from_quantiles(*lo_hi)
        surfaces = HSGPSurfaces(basis, arrays.design.shape[1],
                                mean_loc=tuple([baseline] + [0.0] * (len(rms) - 1)),
                                mean_scale=tuple(float(v) for v in self.coefficient_scale * unit),
                                amplitude_rate=tuple(_pc_rate(self.amplitude_scale * float(u)) for u in unit),
                                lengthscale_prior=(a, b * basis.scale))
        subjects = None
        if arrays.group is not None:
            subjects = SubjectIntercept(len(arrays.group_labels), _pc_rate(self.amplitude_scale * y_scale))
        model = SVCModel(surfaces, lik, subjects, y_scale)
        return SVCModel(surfaces, lik, subjects, y_scale, collapsed=SVCModel.can_collapse(lik, model.n_columns()))

    def _method(self, model: SVCModel, n_units: int, method: str | None) -> str:
        method = method or self.method
        if method not in METHODS:
            raise SpecError(f"unknown method '{method}'; choose one of {METHODS}.")
        if method == "auto":
            return "nuts" if model.collapsed or n_units <= AUTO_NUTS_MAX_UNITS else "svi"
        return method

    # --------------------------------------------------------------- fitting
    def fit(self, y, X, coordinates, groups=None, *, offset=None, method: str | None = None):
        """Fit the surfaces.

        Parameters
        ----------
        y : Series (unit); NaN = missing (left out of the likelihood).
        X : DataFrame (unit, covariate) or None (intercept only); the intercept is added.
        coordinates : DataFrame (unit, coordinate), 1-3 numeric columns (x/y, depth, ...).
        groups : optional Series (unit -> subject): a subject random intercept.
        offset : optional Series (unit) of log offsets (count likelihoods: log size factor or exposure).
        method : override ``self.method``.

        Returns
        -------
        self

        Raises
        ------
        DataError  naming the unit, covariate or coordinate at fault (:func:`rgfactor.data.spatial.spatial_arrays`).
        SpecError  for an unknown likelihood, kernel or method, or invalid prior settings.
        """
        get_likelihood(self.likelihood)
        return run_recorded(self, lambda: self._fit(y, X, coordinates, groups, offset, method))

    def _infer(self, arrays, method, resolve):
        """Build the model with the basis for ``resolve`` and run the engine (one pass of :meth:`_fit`)."""
        model = self._build(arrays, resolve)
        method = self._method(model, arrays.n_units, method)
        with jax.enable_x64(True):
            data = model.model_data(arrays)
        t_setup = time.perf_counter()
        draws = self.num_draws or (COLLAPSED_DRAWS if model.collapsed and method == "nuts" else DEFAULT_DRAWS)
        if method == "nuts":
            run = fit_nuts(model.program(), data, num_warmup=self.num_warmup, num_samples=draws,
                           num_chains=self.num_chains, target_accept=self.target_accept,
                           random_state=self.random_state, progress=self.progress)
        else:
            run = fit_svi(model.program(), data, num_steps=self.max_iter or 20000, learning_rate=self.learning_rate,
                          tol=self.tol or 1e-4, num_draws=draws * self.num_chains,
                          random_state=self.random_state, progress=self.progress)
        rng = np.random.default_rng(self.random_state)
        with jax.enable_x64(True):
            reported = model.reported(model.derive(run.draws, data, rng))
        return model, method, data, run, reported, t_setup

    def _fit(self, y, X, coordinates, groups, offset, method) -> dict:
        """The fitted attributes (see :func:`rgfactor.estimators.base.run_recorded`)."""
        t0 = time.perf_counter()
        arrays = spatial_arrays(y, X, coordinates, groups=groups, offset=offset, likelihood=self.likelihood)
        # basis size (Riutort-Mayol et al. 2023, Sec. 4.3, their iterative procedure): first the rule at
        # the prior's median lengthscale; if a term's posterior median lengthscale is below the shortest
        # that basis resolves (their diagnostic), refit once with the rule at that lengthscale (never
        # below lengthscale_range[0]). An explicit n_basis is used as given.
        adaptive = self.n_basis is None
        lower = float(self.lengthscale_range[0])
        resolve = prior_median_lengthscale(tuple(float(v) for v in self.lengthscale_range)) if adaptive else None
        refits = []
        while True:
            model, method_used, data, run, reported, t_setup = self._infer(arrays, method, resolve)
            basis = model.surfaces.basis
            ls_median = np.median(flatten({"l": reported["lengthscale"]})["l"], axis=0)
            distinct = [len(np.unique(arrays.coords[:, d])) - 1 for d in range(arrays.coords.shape[1])]
            # a basis with (distinct locations - 1) functions per coordinate spans every surface on the data
            short = [] if list(basis.n_basis) == distinct else basis.check_lengthscale(ls_median, arrays.terms)
            if not (adaptive and short and not refits and resolve > lower):
                break
            refits.append(list(basis.n_basis))
            resolve = max(lower, 0.9 * float(ls_median.min()) / basis.scale)
        method = method_used
        t_infer = time.perf_counter()
        with jax.enable_x64(True):
            sd_table = amplitude_savage_dickey(model, data, run.draws)
            eta = linear_predictor_draws(model, reported, data)
            share = spatial_share(reported, arrays.design, eta, arrays.offset)
            basis = model.surfaces.basis
            attrs = {"likelihood": self.likelihood, "method": method,
                     "response": str(getattr(y, "name", None) or "y"), "basis": basis.to_json(),
                     "n_basis": list(basis.n_basis), "boundary_factor": list(basis.boundary_factor),
                     "kernel": basis.kernel, "shortest_lengthscale": basis.shortest_lengthscale(),
                     "basis_rule": _basis_rule_text(adaptive, refits),
                     "collapsed": int(model.collapsed)}
            idata = build_idata(model, arrays, reported, data, response=attrs["response"],
                                sample_stats=run.sample_stats, attrs=attrs)
        diagnostics = {**run.diagnostics, "warnings": list(run.diagnostics.get("warnings", []))}
        issues = []
        if method == "nuts":
            nd = nuts_diagnostics(idata, var_names=[v for v in SUMMARY_VARIABLES + ["sigma_response", "subject_sd",
                                                                                   "dispersion_response"]
                                                    if v in idata.posterior])
            issues += nd.pop("warnings")
            diagnostics.update(nd)
        issues += short
        wide = [arrays.terms[i] for i in np.flatnonzero(sd_table["grid_tail"].to_numpy() > 1e-3)]
        if wide:
            issues.append(f"the Savage-Dickey quadrature grid may be too narrow for term(s) {wide}; p_constant "
                          "is approximate there.")
        for msg in issues:
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        table = variation_table(reported, share, sd_table, arrays.terms, basis, attrs["basis_rule"])
        diagnostics.update(n_units=arrays.n_units, n_columns=model.n_columns(), setup_s=t_setup - t0,
                           inference_s=t_infer - t_setup, basis_refits=refits)
        return {"idata_": idata, "model_": model, "diagnostics_": diagnostics, "spatial_variation_": table,
                "terms_": list(arrays.terms), "coordinate_names_": list(arrays.coordinate_names)}

    # --------------------------------------------------------------- fitted quantities
    def _check_fitted(self):
        if not hasattr(self, "idata_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(y, X, coordinates) first.")

    @property
    def coefficients_(self) -> xr.DataArray:
        """Posterior mean of beta_j(s_i), dims (unit, term)."""
        self._check_fitted()
        return self.idata_.posterior["beta"].mean(("chain", "draw"))

    def spatial_variation(self, threshold: float | None = None) -> pd.DataFrame:
        """Per term: is the coefficient spatially varying, and how much?

        Columns: posterior mean and central 95% interval (q2.5, q97.5) of ``amplitude`` (marginal sd of
        the GP part), ``spatial_sd`` (sd of beta_j(s_i) over the training units, coefficient units),
        ``spatial_share`` (Var_i(x_ij f_j(s_i)) / Var_i(eta_i): share of the linear predictor's variance
        across units due to coefficient j varying), ``beta_mean``; ``lengthscale_median``;
        ``bayes_factor_constant`` (Savage-Dickey BF of amplitude_j = 0 against > 0) and ``p_constant``
        (posterior probability of a constant coefficient at prior odds 1; :mod:`rgfactor.posterior.svc`);
        ``n_basis`` and ``boundary_factor`` of the HSGP basis. With ``threshold``, also
        ``p_spatial_sd_above``: posterior probability that spatial_sd exceeds it (coefficient units).
        """
        self._check_fitted()
        out = self.spatial_variation_.copy()
        if threshold is not None:
            sd = self.idata_.posterior["spatial_sd"].stack(s=("chain", "draw")).transpose("term", "s").values
            out.insert(out.columns.get_loc("bayes_factor_constant"), "p_spatial_sd_above", (sd > threshold).mean(axis=1))
        return out

    def coefficients_at(self, coordinates_new) -> xr.DataArray:
        """Draws of the surfaces at new locations: DataArray (chain, draw, unit, term).

        Raises
        ------
        DataError  for invalid coordinates or locations outside the HSGP box of the fit.
        """
        self._check_fitted()
        _, cv, _, units, _ = new_unit_arrays(None, coordinates_new, terms=self.terms_[:1],
                                             coordinate_names=self.coordinate_names_)
        return self._surfaces_at(cv, units)

    def _surfaces_at(self, cv, units) -> xr.DataArray:
        self.model_.surfaces.basis.check_inside(cv, units)
        return xr.DataArray(surface_draws(self.model_, self.idata_.posterior, cv), dims=("chain", "draw", "unit", "term"),
                            coords={"unit": units, "term": self.terms_})

    def predict(self, X_new, coordinates_new, *, offset=None, groups=None) -> xr.DataArray:
        """Posterior mean response at new units, dims (unit,): E[mean(y | eta)] over the draws (the
        expected count for count likelihoods, the probability for bernoulli). Subject intercepts are
        added for units whose ``groups`` label was seen in training, else left out (a new subject).

        Raises
        ------
        DataError  naming the missing covariate/coordinate, a non-finite value, or a location outside
            the HSGP box.
        """
        self._check_fitted()
        design, cv, off, units, _ = new_unit_arrays(X_new, coordinates_new, terms=self.terms_,
                                                    coordinate_names=self.coordinate_names_, offset=offset)
        beta = self._surfaces_at(cv, units).values                                 # (C, D, n, J)
        labels = None if groups is None else \
            pd.Series(groups).reindex(pd.Index(coordinates_new.index)).astype(str).to_numpy()
        mean = response_mean(self.model_, self.idata_.posterior, design, beta, off, labels)
        return xr.DataArray(mean, dims=("unit",), coords={"unit": units}, name="prediction")

    # --------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write posterior.nc (InferenceData) and model.json to directory ``path``, atomically. No pickle."""
        from rgfactor.posterior.fsio import atomic_directory

        self._check_fitted()
        atomic_directory(path, self.write)

    def write(self, directory) -> None:
        """Write posterior.nc and model.json into an existing ``directory``."""
        from rgfactor.posterior.io import write_json_safe

        directory = Path(directory)
        self.idata_.to_netcdf(str(directory / "posterior.nc"))
        meta = {"class": "SVC", "params": self.get_params(), "terms": self.terms_,
                "coordinate_names": self.coordinate_names_, "diagnostics": self.diagnostics_,
                "spatial_variation": self.spatial_variation_.reset_index().to_dict(orient="list")}
        (directory / "model.json").write_text(json.dumps(write_json_safe(meta), indent=1))

    @classmethod
    def load(cls, path) -> SVC:
        """A fitted SVC from a directory written by :meth:`save` (the model is rebuilt from the
        stored data and settings, no pickle).

        Raises
        ------
        DataError  if ``path`` holds no SVC fit; FitFileError  if its posterior.nc is missing or damaged.
        """
        from rgfactor.posterior.io import read_idata

        path = Path(path)
        try:
            meta = json.loads((path / "model.json").read_text())
        except FileNotFoundError:
            raise DataError(f"no fitted model at '{path}' (model.json missing).") from None
        if meta.get("class") != "SVC":
            raise DataError(f"'{path}' holds a {meta.get('class')} fit, not an SVC.")
        idata = read_idata(path)   # a missing or damaged posterior.nc: FitFileError naming the file
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
        est = cls(**params)
        const, units = idata.constant_data, pd.Index(idata.observed_data["unit"].values)
        groups = None
        if "subject_code" in const:
            groups = pd.Series(np.asarray(idata.posterior["subject"].values)[const["subject_code"].values], index=units)
        arrays = spatial_arrays(pd.Series(idata.observed_data["y"].values, index=units),
                                pd.DataFrame(const["design"].values[:, 1:], index=units, columns=meta["terms"][1:]),
                                pd.DataFrame(const["coordinates"].values, index=units,
                                             columns=meta["coordinate_names"]),
                                groups=groups, offset=pd.Series(const["offset"].values, index=units),
                                likelihood=params["likelihood"])
        model = est._build(arrays, basis=HSGPBasis.from_json(idata.posterior.attrs["basis"]))
        est.idata_, est.model_, est.diagnostics_ = idata, model, meta["diagnostics"]
        est.spatial_variation_ = pd.DataFrame(meta["spatial_variation"]).set_index("term")
        est.terms_, est.coordinate_names_ = meta["terms"], meta["coordinate_names"]
        return est


__all__ = ["SVC", "INTERVAL"]
