"""Variance explained per view and factor, for every likelihood.

Definition (latent scale; Nakagawa & Schielzeth 2013, Methods Ecol Evol 4:133, extended to factor
models as in MOFA's R^2 for Gaussian views, Argelaguet et al. 2018, Methods):

    R2[m, k] = sum_{n,d observed} (f^k_nd - mean_n f^k_nd)^2
               / sum_{n,d observed} [ (F_nd - mean_n F_nd)^2 + v_nd ]

where f^k_nd = z_nk w^m_dk is factor k's part of the linear predictor, F_nd the whole linear
predictor less intercept and size-factor offset (all factors, site and covariate effects), and v_nd
the observation-level variance on the link scale: sigma_d^2 (Gaussian), pi^2/3 (Bernoulli, logit),
log(1 + 1/mu_nd + 1/phi_d) (negative binomial, log link), log(1 + 1/mu_nd) (Poisson). For a
Gaussian view this is the usual fraction of variance explained, sum over factors close to 1 - noise.
Computed at the posterior mean; fractions are clipped to [0, 1].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.inference.compile_options import QUICK_COMPILE
from rgfactor.generative.model import Model


def variance_explained(means: dict, data: dict, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """R2 per (view, factor) and per view for all factors together.

    Parameters
    ----------
    means : posterior means, names as in the model ('Z', 'W_<view>', ...).
    data : model data pytree (rgfactor.generative.model.model_data).

    Returns
    -------
    per_factor : (n_views, n_factors) in [0, 1].
    total : (n_views,) in [0, 1], the fraction explained by all factors together.
    """
    per_factor, total = [], []
    values = {k: jnp.asarray(v) for k, v in means.items()}
    for view in model.view_names:
        zn = np.asarray(model.view_factors(view, means), dtype=np.float64)   # Z, or Z_region's rows
        vd = data["views"][view]
        m = np.asarray(vd["mask"], dtype=bool)
        # the view's (subject, feature) values stay on the host: the program needs the rest only
        program_data = {**data, "views": {view: {k: a for k, a in vd.items() if k not in ("y", "mask")}}}
        f_all, v_lat = latent_parts(model, view)(values, program_data)
        v_obs = float(_observed_sums(np.asarray(v_lat), m)[1].sum())
        del v_lat
        cnt_d, s1, s2 = _observed_sums(np.asarray(f_all), m)
        den = float(np.sum(s2 - s1**2 / np.maximum(cnt_d, 1))) + v_obs
        del f_all
        w = np.asarray(means[f"W_{view}"], dtype=np.float64)
        # the factors' sums of squares from per-feature moments of Z over the observed subjects, without
        # (n, d) arrays: sum_{n obs} (f_nd - mean f_d)^2 = w_d' (S_d - s_d s_d' / n_d) w_d
        cnt, sz, szz = _factor_moments(zn, m)
        cnt = np.maximum(cnt, 1.0)
        per_factor.append(np.sum(w**2 * (np.diagonal(szz, axis1=1, axis2=2) - sz**2 / cnt[:, None]), axis=0) / den)
        quad = np.einsum("dk,dkl,dl->", w, szz, w) - np.sum(np.einsum("dk,dk->d", w, sz) ** 2 / cnt)
        total.append(quad / den)
    return np.clip(np.array(per_factor), 0.0, 1.0), np.clip(np.array(total), 0.0, 1.0)


@functools.lru_cache(maxsize=32)
def latent_parts(model: Model, view: str):
    """A compiled ``(values, data) -> (F, v)`` for ``view``: F (rows, features) the linear predictor less
    the baseline terms (intercept) and the size-factor offset, v the likelihood's observation-level
    variance on the link scale (see the module docstring). One program per (model, view) instead of a
    dozen eagerly compiled operations, which cost ~0.5 s in every fresh process."""
    vm = model.view(view)

    def parts(values, data):
        z = model.view_factors(view, values)
        lin, nuis = model.view_params(view, values, data)
        eta = model.linear_predictor(view, lin, data, z)
        baseline = sum(t.contribution(view, lin, data) for t in vm.terms if t.baseline)
        return eta - baseline - data["views"][view]["log_offset"][:, None], vm.likelihood.latent_variance(eta, nuis)

    return jax.jit(parts, compiler_options=QUICK_COMPILE)   # runs once per fit


BLOCK = 4096   # subjects per block of the float64 accumulations below


def _observed_sums(x: np.ndarray, m: np.ndarray):
    """Per feature over observed subjects: (count, sum x, sum x^2), float64, accumulated over blocks of
    subjects so that no float64 copy of an (n, d) array exists at once. ``x`` broadcasts against ``m``."""
    x = np.broadcast_to(x, m.shape)
    cnt, s1, s2 = m.sum(axis=0).astype(np.float64), np.zeros(m.shape[1]), np.zeros(m.shape[1])
    for a in range(0, m.shape[0], BLOCK):
        xb = np.where(m[a:a + BLOCK], x[a:a + BLOCK], 0.0).astype(np.float64, copy=False)
        s1 += xb.sum(axis=0)
        s2 += np.einsum("nd,nd->d", xb, xb)
    return cnt, s1, s2


def _factor_moments(z: np.ndarray, m: np.ndarray):
    """Per feature over observed subjects: (count (D,), sum z (D, K), sum z z' (D, K, K)), float64."""
    n, k = z.shape
    if m.all():
        return (np.full(m.shape[1], float(n)), np.broadcast_to(z.sum(axis=0), (m.shape[1], k)),
                np.broadcast_to(z.T @ z, (m.shape[1], k, k)))
    cnt, sz, szz = m.sum(axis=0).astype(np.float64), np.zeros((m.shape[1], k)), np.zeros((m.shape[1], k * k))
    for a in range(0, n, BLOCK):
        mb, zb = m[a:a + BLOCK].astype(np.float64), z[a:a + BLOCK]
        sz += mb.T @ zb
        szz += mb.T @ (zb[:, :, None] * zb[:, None, :]).reshape(-1, k * k)
    return cnt, sz, szz.reshape(-1, k, k)
