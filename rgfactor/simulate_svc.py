"""Simulated spatially varying coefficient designs with known surfaces (tests and benchmarks).

* :func:`fotheringham2017` the 25 x 25 grid of Fotheringham, Yang & Kang (2017, Ann Am Assoc Geogr
  107:1247, Sec. "Simulation design"): beta0 = 3, beta1 = 1 + (u + v) / 12,
  beta2 = 1 + [36 - (6 - u/2)^2][36 - (6 - v/2)^2] / 324, x1, x2 ~ N(0, 1), noise sd 0.5.
* :func:`grid_design` any surfaces on an n x n grid, with a Gaussian, Poisson, negative binomial or
  Bernoulli response and optional subjects (random intercepts).
* :func:`bernoulli_design` a binary response (logit link) with a constant intercept and a slope that
  varies linearly across the grid (:data:`BERNOULLI_SURFACES`).
* :func:`surface_recovery` RMSE and pointwise 95% interval coverage of a fitted SVC against the true surfaces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.errors import SpecError

LIKELIHOODS = ("gaussian", "poisson", "negative_binomial", "bernoulli")


def grid_design(surfaces: dict, *, n_side: int = 25, likelihood: str = "gaussian", noise_sd: float = 0.5,
                dispersion: float = 5.0, n_subjects: int = 0, subject_sd: float = 0.5, log_offset_sd: float = 0.0,
                random_state: int = 0):
    """Units on the n_side x n_side grid u, v = 0..n_side-1 with coefficient surfaces ``surfaces``.

    Parameters
    ----------
    surfaces : dict term -> f(u, v) (arrays); the first is the intercept, the others get covariates
        x ~ N(0, 1) named as their keys.
    likelihood : 'gaussian' (noise sd ``noise_sd``), 'poisson', 'negative_binomial' (mean mu,
        variance mu + mu^2 / dispersion) or 'bernoulli' (logit link).
    n_subjects : > 0 assigns units to that many subjects at random, each with an intercept
        N(0, subject_sd^2).  log_offset_sd : sd of a N(0, .) log offset (count likelihoods).

    Returns
    -------
    y : Series (unit); X : DataFrame (unit, covariate); coordinates : DataFrame (unit, [u, v]);
    truth : dict with 'beta' DataFrame (unit, term), 'groups' Series or None, 'offset' Series.
    """
    if likelihood not in LIKELIHOODS:
        raise SpecError(f"unknown likelihood '{likelihood}'; choose one of {LIKELIHOODS}.")
    rng = np.random.default_rng(random_state)
    u, v = np.meshgrid(np.arange(n_side, dtype=float), np.arange(n_side, dtype=float), indexing="ij")
    u, v = u.ravel(), v.ravel()
    n = u.size
    units = [f"u{i}" for i in range(n)]
    names = list(surfaces)
    beta = np.column_stack([np.broadcast_to(np.asarray(surfaces[k](u, v), dtype=float), (n,)) for k in names])
    x = rng.standard_normal((n, len(names) - 1))
    design = np.column_stack([np.ones(n), x])
    eta = (design * beta).sum(axis=1)
    groups = None
    if n_subjects > 0:
        g = rng.integers(0, n_subjects, n)
        eta = eta + rng.normal(0.0, subject_sd, n_subjects)[g]
        groups = pd.Series([f"s{k}" for k in g], index=units, name="subject")
    offset = rng.normal(0.0, log_offset_sd, n) if log_offset_sd > 0 else np.zeros(n)
    if likelihood == "gaussian":
        y = eta + rng.normal(0.0, noise_sd, n)
    elif likelihood == "poisson":
        y = rng.poisson(np.exp(eta + offset)).astype(float)
    elif likelihood == "negative_binomial":
        mu = np.exp(eta + offset)
        y = rng.poisson(rng.gamma(dispersion, mu / dispersion)).astype(float)
    else:
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return (pd.Series(y, index=units, name="y"), pd.DataFrame(x, index=units, columns=names[1:]),
            pd.DataFrame({"u": u, "v": v}, index=units),
            {"beta": pd.DataFrame(beta, index=units, columns=names), "groups": groups,
             "offset": pd.Series(offset, index=units)})


FOTHERINGHAM_SURFACES = {
    "intercept": lambda u, v: np.full_like(u, 3.0),
    "x1": lambda u, v: 1.0 + (u + v) / 12.0,
    "x2": lambda u, v: 1.0 + (36.0 - (6.0 - u / 2.0) ** 2) * (36.0 - (6.0 - v / 2.0) ** 2) / 324.0,
}


def fotheringham2017(random_state: int = 0, n_side: int = 25):
    """The MGWR simulation design of Fotheringham, Yang & Kang (2017) (see the module docstring)."""
    return grid_design(FOTHERINGHAM_SURFACES, n_side=n_side, noise_sd=0.5, random_state=random_state)


def _bernoulli_slope(u, v):
    """-0.5 at (0, 0) to 1.5 at the far corner; the grid side is recovered from the largest coordinate."""
    side = max(float(np.max(u)), float(np.max(v)), 1.0)
    return -0.5 + 2.0 * (u + v) / (2.0 * side)


BERNOULLI_SURFACES = {"intercept": lambda u, v: np.zeros_like(u), "x": _bernoulli_slope}


def bernoulli_design(n_side: int = 20, random_state: int = 0):
    """Binary responses, logit P(y_i = 1) = beta0 + beta1(u_i, v_i) x_i with beta0 = 0 (constant) and
    beta1 = -0.5 + (u + v) / (n_side - 1) (from -0.5 to 1.5 across the grid), x ~ N(0, 1); returns as
    :func:`grid_design`."""
    return grid_design(BERNOULLI_SURFACES, n_side=n_side, likelihood="bernoulli", random_state=random_state)


def surface_recovery(svc, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rmse, coverage), each (term,): RMSE of the posterior-mean surfaces of a fitted ``rgf.SVC`` against the
    true ``beta`` (unit, term), and the share of units whose true value lies in the central 95% interval."""
    draws = svc.idata_.posterior["beta"].transpose("chain", "draw", "unit", "term").values
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=(0, 1))
    rmse = np.sqrt(((draws.mean(axis=(0, 1)) - beta) ** 2).mean(axis=0))
    return rmse, ((beta >= lo) & (beta <= hi)).mean(axis=0)
