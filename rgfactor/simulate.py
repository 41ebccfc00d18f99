"""Simulated multi-view cohorts with known truth, for recovery and calibration tests.

    data, truth = rgf.simulate.multiview(n_subjects=200, n_factors=5, random_state=0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.multiview import MultiViewData

DEFAULT_VIEWS = {"rna": ("negative_binomial", 200), "radiomics": ("gaussian", 100), "mutations": ("bernoulli", 40)}
# loading scale per likelihood: enough signal on the link scale without absurd counts
_LOADING_SCALE = {"gaussian": 1.0, "negative_binomial": 0.5, "poisson": 0.5, "bernoulli": 1.5}


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


def multiview(n_subjects: int = 200, n_factors: int = 5, *, views: dict | None = None, n_sites: int = 3,
              site_effect_sd: float = 0.5, fraction_nonzero: float = 0.3, missing_entries: float = 0.02,
              missing_views: float = 0.1, size_factor_sd: float = 0.3, noise_sd: float = 1.0,
              dispersion: float = 5.0, random_state: int = 0) -> tuple[MultiViewData, dict]:
    """Simulate a cohort from the GFA generative model with known parameters.

    Parameters
    ----------
    n_subjects, n_factors : N and K.
    views : dict view -> (likelihood, n_features); default NB rna (200), Gaussian radiomics (100),
        Bernoulli mutations (40).
    n_sites : number of sites; site intercepts ~ N(0, site_effect_sd) per (view, site, feature) on
        the link scale. 0 gives no site.
    fraction_nonzero : fraction of non-zero loadings of an active (view, factor) pair.
    missing_entries : fraction of entries set to NaN in every view.
    missing_views : fraction of subjects missing each view other than the first (whole view).
    size_factor_sd : sd of the log size factors of count views (mean 0).
    noise_sd : Gaussian noise sd; dispersion : NB dispersion phi (variance mu + mu^2 / phi).

    Returns
    -------
    data : MultiViewData with a site Series when n_sites > 0.
    truth : dict with 'Z' (N, K), 'W' {view: (D, K)}, 'activity' (n_views, K) 0/1, 'intercept'
        {view: (D,)}, 'site_effect' {view: (n_sites, D)}, 'log_size_factor' {view: (N,)},
        'site' (N,) int codes, 'subjects', 'features' {view: list}, 'views' list.
    """
    rng = np.random.default_rng(random_state)
    views = dict(views or DEFAULT_VIEWS)
    names = list(views)
    subjects = [f"subject{i:04d}" for i in range(n_subjects)]
    z = rng.normal(size=(n_subjects, n_factors))
    act = factor_activity(len(names), n_factors, rng)
    site = rng.integers(0, max(n_sites, 1), size=n_subjects)
    truth = {"Z": z, "activity": act, "site": site, "subjects": subjects, "views": names, "W": {}, "intercept": {},
             "site_effect": {}, "log_size_factor": {}, "features": {}}
    frames, likelihoods = {}, {}
    for m, (name, (lik, d)) in enumerate(views.items()):
        s = _LOADING_SCALE[lik]
        w = rng.normal(0.0, s, size=(d, n_factors)) * (rng.random((d, n_factors)) < fraction_nonzero) * act[m]
        for k in np.flatnonzero(act[m]):  # each active factor loads on at least 3 features
            if np.count_nonzero(w[:, k]) < 3:
                idx = rng.choice(d, size=3, replace=False)
                w[idx, k] = rng.normal(0.0, s, size=3) + np.sign(rng.normal(size=3)) * s
        if lik in ("negative_binomial", "poisson"):
            b = rng.normal(np.log(30.0), 1.0, size=d)
        elif lik == "bernoulli":
            b = rng.normal(-1.0, 0.5, size=d)
        else:
            b = rng.normal(0.0, 1.0, size=d)
        u = rng.normal(0.0, site_effect_sd, size=(max(n_sites, 1), d)) if n_sites > 0 else np.zeros((1, d))
        log_sf = rng.normal(0.0, size_factor_sd, size=n_subjects) if lik in ("negative_binomial", "poisson") \
            else np.zeros(n_subjects)
        eta = b + z @ w.T + u[site] + log_sf[:, None]
        if lik == "gaussian":
            y = eta + rng.normal(0.0, noise_sd, size=eta.shape)
        elif lik == "bernoulli":
            y = (rng.random(eta.shape) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
        elif lik == "poisson":
            y = rng.poisson(np.exp(eta)).astype(float)
        else:
            mu = np.exp(eta)
            y = rng.poisson(rng.gamma(dispersion, mu / dispersion)).astype(float)
        y[rng.random(y.shape) < missing_entries] = np.nan
        feats = [f"{name}_{j}" for j in range(d)]
        df = pd.DataFrame(y, index=subjects, columns=feats)
        if m > 0 and missing_views > 0:
            df = df.loc[rng.random(n_subjects) >= missing_views]
        frames[name], likelihoods[name] = df, lik
        truth["W"][name], truth["intercept"][name], truth["site_effect"][name] = w, b, u
        truth["log_size_factor"][name], truth["features"][name] = log_sf, feats
    site_series = pd.Series([f"site{c}" for c in site], index=subjects) if n_sites > 0 else None
    data = MultiViewData.from_pandas(frames, likelihoods, site=site_series)
    return data, truth
