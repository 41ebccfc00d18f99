"""Simulated multi-region cohorts: subject-level factors plus a smooth within-subject deviation.

Draws from the model of :mod:`rgfactor.generative.region_factors` with **exact** squared-exponential
GPs (not the HSGP basis the fit uses), so a recovery test also checks the approximation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import REGION, SUBJECT


def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=1, keepdims=True)


def _se_draw(rng, x: np.ndarray, lengthscale: float) -> np.ndarray:
    """One draw of a unit-amplitude SE GP at the points x (n,)."""
    k = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / lengthscale**2) + 1e-8 * np.eye(len(x))
    return np.linalg.cholesky(k) @ rng.normal(size=len(x))


def regions(n_subjects: int = 80, n_regions: int = 5, *, shares=((0.5, 0.4, 0.1), (0.9, 0.0, 0.1)),
            lengthscales=(0.4, 0.4), trend_sd=(0.0, 0.0), factor_scales=None, region_features: int = 30,
            subject_features: int = 20,
            noise_sd: float = 0.5, jitter: float = 0.05, random_state: int = 0) -> tuple[MultiViewData, dict]:
    """A multi-region cohort with known factors, shares and lengthscales.

    Model (per factor k, subject s, region r at depth x_sr in [0, 1]):
    Z_region_srk = sqrt(rho_b) Z_sk + trend_sd_k c(g_k)(x_sr) + sqrt(rho_w) c(f_sk)(x_sr) + sqrt(rho_e) e_srk,
    Z, e ~ N(0, 1), f_sk, g_k exact unit-amplitude SE GPs with ``lengthscales[k]``, c() centring over the
    subject's regions. Depths: (r + 1/2) / R plus N(0, ``jitter``) per subject, sorted within subject.

    Parameters
    ----------
    n_subjects, n_regions : S and R.
    shares : per factor (rho_b, rho_w, rho_e), the prior shares (each row sums to 1).
    lengthscales : per factor, the lengthscale of the within-subject curves and the trend (depth units).
    trend_sd : per factor, the amplitude of the population trend.
    factor_scales : per factor, a multiplier of its loadings (default 1): distinct scales make the
        factors the principal axes (identified up to sign and order).
    region_features, subject_features : features of the Gaussian region-level view 'imaging' and the
        Gaussian subject-level view 'expression'; loadings N(0, 1) on every factor.
    noise_sd : sd of the Gaussian noise of both views.
    random_state : seed.

    Returns
    -------
    data : MultiViewData with 'imaging' indexed by (subject, region), 'expression' by subject and
        coordinates (subject, region) column 'depth'.
    truth : dict 'Z' (S, K), 'Z_region' (S, R, K), 'shares' (4, K) finite-population shares of
        (between_subject, population_trend, smooth_within, independent) over the simulated grid,
        'lengthscale' (K,), 'depth' (S, R), 'W' {view: (D, K)}.
    """
    rng = np.random.default_rng(random_state)
    rho = np.asarray(shares, dtype=float)
    k = len(rho)
    depth = np.sort(np.clip((np.arange(n_regions) + 0.5) / n_regions + rng.normal(0, jitter, (n_subjects, n_regions)),
                            0.0, 1.0), axis=1)
    z = rng.normal(size=(n_subjects, k))
    parts = np.zeros((4, n_subjects, n_regions, k))
    common = np.linspace(0.0, 1.0, 101)
    for j in range(k):
        g = _se_draw(rng, common, lengthscales[j])
        trend = np.interp(depth, common, g)
        smooth = np.stack([_se_draw(rng, depth[s], lengthscales[j]) for s in range(n_subjects)])
        parts[0, ..., j] = np.sqrt(rho[j, 0]) * z[:, None, j]
        parts[1, ..., j] = trend_sd[j] * _centred(trend)
        parts[2, ..., j] = np.sqrt(rho[j, 1]) * _centred(smooth)
        parts[3, ..., j] = np.sqrt(rho[j, 2]) * rng.normal(size=(n_subjects, n_regions))
    zr = parts.sum(0)
    var = parts.reshape(4, -1, k).var(axis=1)
    scales = np.ones(k) if factor_scales is None else np.asarray(factor_scales, dtype=float)
    w_img = rng.normal(size=(region_features, k)) * scales
    w_exp = rng.normal(size=(subject_features, k)) * scales
    subjects = [f"subject{i:03d}" for i in range(n_subjects)]
    labels = [f"region{r + 1}" for r in range(n_regions)]
    grid = pd.MultiIndex.from_product([subjects, labels], names=[SUBJECT, REGION])
    img = zr.reshape(-1, k) @ w_img.T + rng.normal(0.0, noise_sd, (n_subjects * n_regions, region_features))
    expr = z @ w_exp.T + rng.normal(0.0, noise_sd, (n_subjects, subject_features))
    views = {"imaging": pd.DataFrame(img, index=grid, columns=[f"img{j}" for j in range(region_features)]),
             "expression": pd.DataFrame(expr, index=pd.Index(subjects, name=SUBJECT),
                                        columns=[f"gene{j}" for j in range(subject_features)])}
    coords = pd.DataFrame({"depth": depth.reshape(-1)}, index=grid)
    data = MultiViewData.from_pandas(views, {"imaging": "gaussian", "expression": "gaussian"}, coordinates=coords)
    truth = {"Z": z, "Z_region": zr, "shares": var / var.sum(0), "lengthscale": np.asarray(lengthscales, float),
             "depth": depth, "W": {"imaging": w_img, "expression": w_exp}}
    return data, truth
