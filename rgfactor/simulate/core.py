"""Factor-model cohorts with known truth (GFA, PPLS, spatially smooth factors); see :mod:`rgfactor.simulate`."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro import handlers

from rgfactor.data.arrays import ModelArrays
from rgfactor.data.multiview import MultiViewData
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.model import Model, describe
from rgfactor.inference.compile_options import QUICK_COMPILE

DEFAULT_VIEWS = {"rna": ("negative_binomial", 200), "radiomics": ("gaussian", 100), "mutations": ("bernoulli", 40)}
# loading scale per likelihood: enough signal on the link scale without absurd counts
LOADING_SCALE = {"gaussian": 1.0, "negative_binomial": 0.5, "poisson": 0.5, "bernoulli": 1.5}


def factor_activity(n_views: int, n_factors: int, rng: np.random.Generator) -> np.ndarray:
    """(n_views, n_factors) 0/1 activity: factor 1 shared by all views, the last view-specific to
    view 1 (when K >= 3), the others active in a random non-empty subset of views."""
    act = (rng.random((n_views, n_factors)) < 0.6).astype(int)
    act[:, 0] = 1
    if n_factors >= 3 and n_views >= 2:
        act[:, -1] = 0
        act[0, -1] = 1
    for k in range(n_factors):
        if not act[:, k].any():
            act[rng.integers(n_views), k] = 1
    return act


def _intercepts(lik: str, d: int, rng: np.random.Generator) -> np.ndarray:
    if lik in ("negative_binomial", "poisson"):
        return rng.normal(np.log(30.0), 1.0, size=d)
    if lik == "bernoulli":
        return rng.normal(-1.0, 0.5, size=d)
    return rng.normal(0.0, 1.0, size=d)


def sample_views(model: Model, values: dict, n_subjects: int, *, log_offsets: dict | None = None,
                 site: np.ndarray | None = None, covariates: np.ndarray | None = None,
                 random_state: int = 0) -> dict[str, np.ndarray]:
    """Draw every view's observations from ``model``'s NumPyro program given parameter values.

    Parameters
    ----------
    model : the model description (:func:`rgfactor.generative.model.describe`).
    values : values of the program's sampled sites (engine 'svi' parameterisation): ``Z``,
        ``W_<view>`` (raw, before any activity mask), ``alpha_<view>``, ``intercept_<view>``, the
        nuisance (``sigma_<view>``, ``dispersion_<view>``), ``site_sd_<view>``/``site_raw_<view>``,
        ``beta_<view>``, ... A site the program samples that is not given is drawn from its prior.
    n_subjects : N.  log_offsets : view -> (N,) log size factors (0 when absent).
    site : (N,) int site codes; covariates : (N, C) covariate values (as the model sees them).
    random_state : seed of the observation noise.

    Returns
    -------
    dict view -> (N, n_features) float array of observations.
    """
    data = {"views": {}}
    for vm in model.views:
        off = np.zeros(n_subjects) if log_offsets is None else np.asarray(log_offsets.get(vm.name, np.zeros(n_subjects)))
        data["views"][vm.name] = {"mask": jnp.ones((n_subjects, vm.n_features), bool),
                                  "log_offset": jnp.asarray(off, jnp.float32),
                                  "centre": jnp.zeros(vm.n_features), "scale": jnp.ones(vm.n_features)}
    if site is not None:
        data["site"] = jnp.asarray(site, jnp.int32)
    if covariates is not None:
        data["covariates"] = jnp.asarray(covariates, jnp.float32)
    ys = _draw_views(model, {k: jnp.asarray(v) for k, v in values.items()}, data, jax.random.PRNGKey(random_state))
    return {vm.name: np.asarray(ys[vm.name], dtype=float) for vm in model.views}


@partial(jax.jit, static_argnums=0, compiler_options=QUICK_COMPILE)
def _draw_views(model: Model, values: dict, data: dict, key) -> dict:
    """The program's observations given ``values``, as one compiled program (compiled once per model and
    shapes, with the least compile time: run once). Run op by op, a small cohort's first simulation compiled
    ~100 one-operation programs (5.8 s in a fresh process; 1.2 s so). The same draws, up to float32
    round-off in the last bit of real values."""
    program = handlers.condition(model.program("svi"), values)
    trace = handlers.trace(handlers.seed(program, key)).get_trace(data)
    return {vm.name: trace[f"y_{vm.name}"]["value"] for vm in model.views}


def _frames(ys: dict, subjects: list, rng: np.random.Generator, missing_entries: float,
            missing_views: float) -> dict:
    frames = {}
    for m, (name, y) in enumerate(ys.items()):
        y = y.copy()
        y[rng.random(y.shape) < missing_entries] = np.nan
        df = pd.DataFrame(y, index=subjects, columns=[f"{name}_{j}" for j in range(y.shape[1])])
        if m > 0 and missing_views > 0:
            df = df.loc[rng.random(len(subjects)) >= missing_views]
        frames[name] = df
    return frames


def multiview(n_subjects: int = 200, n_factors: int = 5, *, views: dict | None = None, n_sites: int = 3,
              site_effect_sd: float = 0.5, n_covariates: int = 0, covariate_effect_sd: float = 0.5,
              fraction_nonzero: float = 0.3, activity: np.ndarray | None = None,
              factor_scales: np.ndarray | None = None, missing_entries: float = 0.02, missing_views: float = 0.1,
              size_factor_sd: float = 0.3, noise_sd: float = 1.0, dispersion: float = 5.0,
              site_scale_sd: float = 0.0, values: dict | None = None,
              random_state: int = 0) -> tuple[MultiViewData, dict]:
    """Simulate a cohort from the GFA model (PCCA with an ``activity`` pattern) with known parameters.

    Parameters
    ----------
    n_subjects, n_factors : N and K.
    views : dict view -> (likelihood, n_features); default NB rna (200), Gaussian radiomics (100),
        Bernoulli mutations (40).
    n_sites : number of sites; site intercepts ~ N(0, site_effect_sd) per (view, site, feature) on
        the link scale. 0 gives no site.
    n_covariates : number of standard-normal covariates, effects ~ N(0, covariate_effect_sd) per
        (covariate, feature) on the link scale (columns ``x0``, ``x1``, ...).
    fraction_nonzero : fraction of non-zero loadings of an active (view, factor) pair.
    activity : (n_views, K) 0/1 which factors load on which view; default :func:`factor_activity`
        (random, seeded).
    factor_scales : (K,) multipliers of each factor's loadings (distinct scales make the factors
        the principal axes).
    missing_entries : fraction of entries set to NaN in every view.
    missing_views : fraction of subjects missing each view other than the first (whole view).
    size_factor_sd : sd of the log size factors of count views (mean 0).
    noise_sd : Gaussian noise sd; dispersion : NB dispersion phi (variance mu + mu^2 / phi).
    site_scale_sd : sd of log kappa_sd, the site effect on the noise precision of Gaussian views and on
        the dispersion of NB views (log-normal, mean-1 kappa; truth 'site_scale'); 0 (default): none.
    values : extra values of the model's sampled sites (e.g. the nuisance of a likelihood you
        registered: ``{"df_x": 3.0}``); sites neither chosen here nor given are drawn from their prior.
    random_state : seed of the parameters, the observations and the missingness.

    Returns
    -------
    data : MultiViewData with a site Series when n_sites > 0 and covariates when n_covariates > 0.
    truth : dict with 'Z' (N, K), 'W' {view: (D, K)}, 'activity' (n_views, K) 0/1, 'intercept'
        {view: (D,)}, 'site_effect' {view: (n_sites, D)}, 'beta' {view: (C, D)},
        'log_size_factor' {view: (N,)}, 'site' (N,) int codes, 'covariates' (N, C), 'subjects',
        'features' {view: list}, 'views' list.
    """
    rng = np.random.default_rng(random_state)
    views = dict(views or DEFAULT_VIEWS)
    values_given = dict(values or {})
    names = list(views)
    subjects = [f"subject{i:04d}" for i in range(n_subjects)]
    z = rng.normal(size=(n_subjects, n_factors))
    act = factor_activity(len(names), n_factors, rng) if activity is None else np.asarray(activity, dtype=int)
    site = rng.integers(0, max(n_sites, 1), size=n_subjects)
    x = rng.normal(size=(n_subjects, n_covariates)) if n_covariates else None
    scales = np.ones(n_factors) if factor_scales is None else np.asarray(factor_scales, dtype=float)
    truth = {"Z": z, "activity": act, "site": site, "covariates": x, "subjects": subjects, "views": names, "W": {},
             "intercept": {}, "site_effect": {}, "beta": {}, "log_size_factor": {}, "features": {}}
    values = {"Z": z}
    for m, (name, (lik, d)) in enumerate(views.items()):
        s = LOADING_SCALE.get(lik, 1.0)
        w = rng.normal(0.0, s, size=(d, n_factors)) * (rng.random((d, n_factors)) < fraction_nonzero) * act[m]
        for k in np.flatnonzero(act[m]):  # each active factor loads on at least 3 features
            if np.count_nonzero(w[:, k]) < 3:
                idx = rng.choice(d, size=3, replace=False)
                w[idx, k] = rng.normal(0.0, s, size=3) + np.sign(rng.normal(size=3)) * s
        w = w * scales[None, :]
        b = _intercepts(lik, d, rng)
        u = rng.normal(0.0, site_effect_sd, size=(max(n_sites, 1), d)) if n_sites > 0 else np.zeros((1, d))
        beta = rng.normal(0.0, covariate_effect_sd, size=(n_covariates, d)) if n_covariates else np.zeros((0, d))
        log_sf = rng.normal(0.0, size_factor_sd, size=n_subjects) if lik in ("negative_binomial", "poisson") \
            else np.zeros(n_subjects)
        kappa = np.exp(rng.normal(-0.5 * site_scale_sd**2, site_scale_sd, size=(max(n_sites, 1), d))) \
            if site_scale_sd > 0 and n_sites > 1 else np.ones((max(n_sites, 1), d))
        truth.setdefault("site_scale", {})[name] = kappa
        values.update({f"site_scale_{name}": kappa, f"site_scale_shape_{name}": np.asarray(10.0)})
        values.update({f"W_{name}": w, f"alpha_{name}": np.ones(n_factors), f"intercept_{name}": b,
                       f"sigma_{name}": np.full(d, noise_sd), f"tau_{name}": np.full(d, noise_sd**-2.0),
                       f"dispersion_{name}": np.full(d, dispersion),
                       f"site_sd_{name}": np.ones(d), f"site_raw_{name}": u, f"beta_{name}": beta})
        truth["W"][name], truth["intercept"][name], truth["site_effect"][name] = w, b, u
        truth["beta"][name], truth["log_size_factor"][name] = beta, log_sf
        truth["features"][name] = [f"{name}_{j}" for j in range(d)]
    values.update(values_given)
    config = ModelConfig(views=tuple((n, views[n][0], views[n][1]) for n in names), n_factors=n_factors,
                         site_effects=("location_scale" if site_scale_sd > 0 else "location") if n_sites > 1 else False,
                         n_sites=n_sites if n_sites > 0 else 0, n_covariates=n_covariates)
    ys = sample_views(describe(config), values, n_subjects, log_offsets=truth["log_size_factor"],
                      site=site if n_sites > 0 else None, covariates=x, random_state=random_state)
    frames = _frames(ys, subjects, rng, missing_entries, missing_views)
    site_series = pd.Series([f"site{c}" for c in site], index=subjects) if n_sites > 0 else None
    cov = pd.DataFrame(x, index=subjects, columns=[f"x{j}" for j in range(n_covariates)]) if n_covariates else None
    data = MultiViewData.from_pandas(frames, {n: views[n][0] for n in names}, site=site_series, covariates=cov)
    return data, truth


def ppls(n_subjects: int = 300, n_components: int = 2, *, n_predictors: int = 12, n_responses: int = 3,
         b: tuple = (1.5, -1.0), sigma_h: float = 0.4, noise_sd: float = 1.0, response_noise_sd: float = 0.5,
         outcome: bool = False, random_state: int = 0) -> tuple[dict, dict]:
    """Predictor block ``x`` (Gaussian) and response ``y`` from the PPLS model (el Bouhaddani et al. 2018):
    T ~ N(0, I), U = T B + H, H ~ N(0, sigma_h^2 I), x = T P^T + e, y = U C^T + f.

    ``outcome=True`` makes ``y`` a one-feature Bernoulli outcome with logit 2 (U C^T)_1.

    Returns
    -------
    frames : dict 'x', 'y' -> DataFrame (subject, feature) (pass to MultiViewData.from_pandas).
    truth : 'T', 'U', 'B', 'P', 'C', 'likelihoods'.
    """
    rng = np.random.default_rng(random_state)
    j = n_components
    t = rng.normal(size=(n_subjects, j))
    h_std = rng.normal(size=(n_subjects, j))
    bb = np.asarray(b, dtype=float)[:j]
    p = rng.normal(size=(n_predictors, j))
    c = rng.normal(size=(n_responses, j))
    q = 1 if outcome else n_responses
    if outcome:
        c = 2.0 * c[:1]
    lik_y = "bernoulli" if outcome else "gaussian"
    config = ModelConfig(views=(("x", "gaussian", n_predictors), ("y", lik_y, q)), n_factors=2 * j,
                         activity=(("x", (1,) * j + (0,) * j), ("y", (1,) * (2 * j))), response_views=("y",))
    values = {"Z": np.c_[t, h_std], "ppls_B": bb, "ppls_sigma_h": np.asarray(sigma_h),
              "W_x": np.c_[p, np.zeros_like(p)], "alpha_x": np.ones(2 * j), "intercept_x": np.zeros(n_predictors),
              "tau_x": np.full(n_predictors, noise_sd**-2.0), "ppls_C_y": c, "alpha_y": np.ones(j),
              "intercept_y": np.zeros(q), "tau_y": np.full(q, response_noise_sd**-2.0)}
    ys = sample_views(describe(config), values, n_subjects, random_state=random_state)
    idx = [f"s{i}" for i in range(n_subjects)]
    frames = {"x": pd.DataFrame(ys["x"], index=idx, columns=[f"x{k}" for k in range(n_predictors)]),
              "y": pd.DataFrame(ys["y"], index=idx, columns=[f"y{k}" for k in range(q)])}
    truth = {"T": t, "U": t * bb + sigma_h * h_std, "B": bb, "P": p, "C": c,
             "likelihoods": {"x": "gaussian", "y": lik_y}}
    return frames, truth


def cohort(**kwargs) -> tuple[MultiViewData, pd.DataFrame]:
    """A simulated cohort as a data source of the command line (``source = "simulate"``):
    :func:`multiview` with ``kwargs``; labels: the site and the sign of true factor 1."""
    data, truth = multiview(**kwargs)
    labels = pd.DataFrame(index=data.subjects)
    if data.site is not None:
        labels["site"] = data.site
    labels["true_factor1_positive"] = (truth["Z"][:, 0] > 0).astype(int)
    return data, labels


def model_arrays(data: MultiViewData) -> ModelArrays:
    """The model arrays of a simulated cohort (its own preprocessing), for engine-level tests."""
    return data.fit_arrays()[1]


def spatial(n_subjects: int = 400, lengthscales=(0.2, 0.8, 0.0, 0.0), *, views: dict | None = None,
            n_coordinates: int = 2, missing_entries: float = 0.0, random_state: int = 0,
            **kwargs) -> tuple[MultiViewData, dict]:
    """Simulate a cohort whose factors vary smoothly over coordinates (the MEFISTO setting,
    ``simulate_mofa`` of mofapy2 with lengthscales [0.2, 0.8, 0, 0]).

    Subjects lie uniformly in the unit square (cube, interval); factor k with ``lengthscales[k] > 0`` is
    an exact squared-exponential GP draw with unit variance and that lengthscale (scale 1), factor k with
    lengthscale 0 is N(0, 1) noise (scale 0). Loadings, intercepts and observations as :func:`multiview`
    (no sites, no missing views; ``kwargs`` go there).

    Returns
    -------
    data : MultiViewData with ``coordinates`` (columns x, y[, z]).
    truth : :func:`multiview`'s truth with 'Z' the factors above, 'coordinates' (N, D),
        'lengthscale' (K,) and 'scale' (K,) (1 for smooth factors, 0 for the others).
    """
    rng = np.random.default_rng(random_state)
    ls = np.asarray(lengthscales, dtype=float)
    coords = rng.random((n_subjects, n_coordinates))
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    z = rng.normal(size=(n_subjects, len(ls)))
    for k in np.flatnonzero(ls > 0):
        chol = np.linalg.cholesky(np.exp(-0.5 * d2 / ls[k] ** 2) + 1e-6 * np.eye(n_subjects))
        z[:, k] = chol @ rng.normal(size=n_subjects)
    data, truth = multiview(n_subjects, len(ls), views=views, n_sites=0, activity=np.ones((len(views or DEFAULT_VIEWS),
                            len(ls)), dtype=int), missing_entries=missing_entries, missing_views=0.0,
                            values={"Z": z}, random_state=random_state, **kwargs)
    names = ["x", "y", "z"][:n_coordinates]
    frame = pd.DataFrame(coords, index=data.subjects, columns=names)
    data = MultiViewData.from_pandas(data.views, data.likelihoods, coordinates=frame, transforms=data.transforms)
    truth.update(Z=z, coordinates=coords, lengthscale=ls, scale=(ls > 0).astype(float))
    return data, truth
