"""Mediation designs with known paths (observed or latent mediators, Gaussian, binary or survival
outcomes), re-exported by :mod:`rgfactor.simulate`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.multiview import MultiViewData
from rgfactor.errors import SpecError
from rgfactor.simulate.core import multiview


def _outcome(eta: np.ndarray, outcome: str, rng: np.random.Generator, *, outcome_sd: float,
             weibull_shape: float, censoring_rate: float, follow_up: float) -> pd.DataFrame:
    """Outcome columns for a linear predictor: y (gaussian: eta + noise; bernoulli: logit eta) or
    time/event (Weibull PH with hazard rho t^(rho-1) e^eta, exponential censoring at
    ``censoring_rate`` and administrative censoring at ``follow_up``)."""
    if outcome == "gaussian":
        return pd.DataFrame({"y": eta + outcome_sd * rng.standard_normal(eta.shape)})
    if outcome == "bernoulli":
        return pd.DataFrame({"y": (rng.random(eta.shape) < 1.0 / (1.0 + np.exp(-eta))).astype(float)})
    t = (rng.exponential(size=eta.shape) * np.exp(-eta)) ** (1.0 / weibull_shape)
    c = np.minimum(rng.exponential(1.0 / censoring_rate, size=eta.shape) if censoring_rate > 0 else np.inf, follow_up)
    return pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(float)})


def mediation(n_subjects: int = 200, *, a: float = 0.39, b: float = 0.39, direct: float = 0.39,
              n_mediators: int = 1, n_active: int | None = None, outcome: str = "gaussian", exposure: str = "binary",
              intercept: float = 0.0, n_confounders: int = 0, confounder_effect: float = 0.3,
              mediator_sd: float = 1.0, outcome_sd: float = 1.0, weibull_shape: float = 1.0,
              censoring_rate: float = 0.3, follow_up: float = 3.0,
              random_state: int = 0) -> tuple[MultiViewData, pd.DataFrame, dict]:
    """Observed mediators with known paths: x -> m_j -> y and x -> y.

    x ~ Bernoulli(1/2) (``exposure='binary'``) or N(0, 1); confounders c ~ N(0, I); mediators
    m_j = a_j x + c . g + mediator_sd e_j for j < n_active (a_j = a, b_j = b), a_j = b_j = 0 otherwise;
    eta = intercept + direct x + sum_j b_j m_j + c . g; y from :func:`_outcome`. The standard design of
    the mediation literature is n = 200, a = b = c' = 0.39, binary x, one mediator, unit error variances.

    Returns
    -------
    data : MultiViewData with one gaussian view 'mediators' (features m0, m1, ...).
    clinical : DataFrame (subject): 'exposure', the outcome ('y', or 'time' and 'event'), 'c0', 'c1', ...
    truth : 'a', 'b' (n_mediators,), 'direct', 'exposure', 'confounders', 'mediators', 'eta'.
    """
    rng = np.random.default_rng(random_state)
    n = n_subjects
    x = (rng.random(n) < 0.5).astype(float) if exposure == "binary" else rng.standard_normal(n)
    c = rng.standard_normal((n, n_confounders))
    g = np.full(n_confounders, confounder_effect)
    k = n_mediators if n_active is None else n_active
    av = np.where(np.arange(n_mediators) < k, a, 0.0)
    bv = np.where(np.arange(n_mediators) < k, b, 0.0)
    m = x[:, None] * av + (c @ g)[:, None] + mediator_sd * rng.standard_normal((n, n_mediators))
    eta = intercept + direct * x + m @ bv + c @ g
    subjects = [f"s{i:04d}" for i in range(n)]
    clinical = pd.concat([pd.DataFrame({"exposure": x}), _outcome(eta, outcome, rng, outcome_sd=outcome_sd,
                          weibull_shape=weibull_shape, censoring_rate=censoring_rate, follow_up=follow_up),
                          pd.DataFrame(c, columns=[f"c{j}" for j in range(n_confounders)])], axis=1)
    clinical.index = subjects
    view = pd.DataFrame(m, index=subjects, columns=[f"m{j}" for j in range(n_mediators)])
    data = MultiViewData.from_pandas({"mediators": view}, {"mediators": "gaussian"})
    return data, clinical, {"a": av, "b": bv, "direct": direct, "exposure": x, "confounders": c, "mediators": m,
                            "eta": eta}


def mediation_survival(n_subjects: int = 300, *, proportion_mediated: float = 0.5, a: float = 0.6, b: float = 0.6,
                       weibull_shape: float = 1.5, horizon: float = 1.0, baseline_survival: float = 0.5,
                       censoring_rate: float = 0.3, follow_up: float = 3.0, n_truth: int = 2_000_000,
                       random_state: int = 0) -> tuple[MultiViewData, pd.DataFrame, dict]:
    """One gaussian mediator and a right-censored Weibull PH outcome with a known proportion mediated
    on the scale rgf.Mediation reports: PM = NIE / TE of the survival probability S(horizon).

    Binary x, m = a x + e (e ~ N(0, 1)), hazard rho t^(rho - 1) exp(intercept + direct x + b m), the
    intercept putting S(horizon | x = 0, m = 0) at ``baseline_survival``. PM = 0: a = 0 and direct =
    a b with the a given (the mediator drives the outcome but the exposure does not move it); PM = 1:
    direct = 0; 0 < PM < 1: the direct effect solved (Brent) so that NIE / TE = PM, with
    S(tau | x, m) = exp(-tau^rho e^eta) averaged over 2e5 draws of the mediator noise. Censoring as
    :func:`mediation`.

    The estimands in ``truth`` come from a separate route: a Monte Carlo simulation of ``n_truth``
    potential event times T(x, M(x')) per arm combination (shared mediator noise and unit exponentials,
    as in the mediation formula), S(tau) as the fraction T > tau and RMST as the mean of min(T, tau).

    Returns
    -------
    data, clinical : as :func:`mediation` with outcome='survival' (clinical 'time', 'event').
    truth : :func:`mediation`'s truth plus 'intercept', 'weibull_shape', 'horizon' and the Monte Carlo
        estimands 'NIE', 'NDE', 'TE', 'PM', 'NIE_rmst', 'NDE_rmst', 'TE_rmst' with their Monte Carlo
        SEs 'mc_se' (dict).

    Raises
    ------
    SpecError  for ``proportion_mediated`` outside [0, 1].
    """
    from scipy.optimize import brentq

    if not 0.0 <= proportion_mediated <= 1.0:
        raise SpecError(f"proportion_mediated must lie in [0, 1], got {proportion_mediated}.")
    rho, tau = float(weibull_shape), float(horizon)
    intercept = float(np.log(-np.log(baseline_survival)) - rho * np.log(tau))
    rng = np.random.default_rng([random_state, 7919])
    e, u = rng.standard_normal(n_truth), rng.exponential(size=n_truth)
    if proportion_mediated == 0.0:
        a, direct = 0.0, a * b
    elif proportion_mediated == 1.0:
        direct = 0.0
    else:
        grid = e[:200_000]

        def pm_gap(d):      # S(tau | eta) = exp(-tau^rho e^eta), averaged over the mediator noise
            s = {(x, xm): np.mean(np.exp(-tau**rho * np.exp(intercept + d * x + b * (a * xm + grid)))) for x, xm in
                 ((1, 1), (1, 0), (0, 0))}
            return (s[1, 1] - s[1, 0]) / (s[1, 1] - s[0, 0]) - proportion_mediated

        direct = float(brentq(pm_gap, 0.0, 20.0 * abs(a * b) + 1.0, xtol=1e-10))

    def potential(x, xm):
        t = (u * np.exp(-(intercept + direct * x + b * (a * xm + e)))) ** (1.0 / rho)
        return (t > tau).astype(float), np.minimum(t, tau)

    y = {k: potential(*k) for k in ((1, 1), (1, 0), (0, 0))}
    truth, mc_se = {}, {}
    for j, suffix in ((0, ""), (1, "_rmst")):
        for name, (p, q) in (("NIE", ((1, 1), (1, 0))), ("NDE", ((1, 0), (0, 0))), ("TE", ((1, 1), (0, 0)))):
            d = y[p][j] - y[q][j]
            truth[name + suffix], mc_se[name + suffix] = float(d.mean()), float(d.std() / np.sqrt(n_truth))
    truth["PM"] = truth["NIE"] / truth["TE"]
    data, clinical, sim = mediation(n_subjects, a=a, b=b, direct=direct, outcome="survival", intercept=intercept,
                                    weibull_shape=rho, censoring_rate=censoring_rate, follow_up=follow_up,
                                    random_state=random_state)
    return data, clinical, {**sim, **truth, "mc_se": mc_se, "intercept": intercept, "weibull_shape": rho,
                            "horizon": tau}


def mediation_factors(n_subjects: int = 200, *, a=(0.0, 1.0), b=(0.8, 0.8), direct: float = 0.3,
                      outcome: str = "gaussian", views: dict | None = None, intercept: float = 0.0,
                      outcome_sd: float = 1.0, weibull_shape: float = 1.0, censoring_rate: float = 0.3,
                      follow_up: float = 3.0, noise_sd: float = 1.0, fraction_nonzero: float = 0.5,
                      activity=None, random_state: int = 0) -> tuple[MultiViewData, pd.DataFrame, dict]:
    """Latent mediators with known paths: z_n ~ N(a x_n, I), views from the GFA model given z, and
    the outcome from eta = intercept + direct x + z . b.

    The default has factor 1 exposure-independent but driving the outcome (a_1 = 0, b_1 = 0.8) and
    factor 2 shifted by the exposure and driving the outcome (a_2 = 1, b_2 = 0.8): the indirect effect
    runs through factor 2 only. ``activity`` (n_views, K) 0/1 says which factor loads on which view;
    the default (two factors, two views) has factor 2 (the mediator) in the first view and factor 1
    in the second only. Factors that load on the same views can be rotated into each other without changing the
    likelihood (only the per-factor NIE, not the total, depends on the rotation), so a design whose
    per-factor effects are to be recovered needs distinct activity patterns.

    Returns
    -------
    data : MultiViewData (default views 'imaging' gaussian 40 and 'omics' gaussian 30 features).
    clinical : DataFrame (subject): 'exposure' (binary) and the outcome columns.
    truth : 'a', 'b', 'direct', 'Z', 'W', 'exposure', 'eta'.
    """
    rng = np.random.default_rng(random_state)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    k = len(a)
    x = (rng.random(n_subjects) < 0.5).astype(float)
    z = x[:, None] * a + rng.standard_normal((n_subjects, k))
    views = dict(views or {"imaging": ("gaussian", 40), "omics": ("gaussian", 30)})
    if activity is None:
        activity = np.ones((len(views), k), dtype=int)
        if k == 2 and len(views) == 2:
            activity = np.array([[0, 1], [1, 0]])
    gfa, truth = multiview(n_subjects, k, views=views, n_sites=0, activity=np.asarray(activity, dtype=int),
                           fraction_nonzero=fraction_nonzero, missing_entries=0.0, missing_views=0.0,
                           noise_sd=noise_sd, values={"Z": z}, random_state=random_state)
    eta = intercept + direct * x + z @ b
    clinical = pd.concat([pd.DataFrame({"exposure": x}), _outcome(eta, outcome, rng, outcome_sd=outcome_sd,
                          weibull_shape=weibull_shape, censoring_rate=censoring_rate, follow_up=follow_up)], axis=1)
    clinical.index = list(gfa.subjects)
    return gfa, clinical, {"a": a, "b": b, "direct": direct, "Z": z, "W": truth["W"], "exposure": x, "eta": eta}
