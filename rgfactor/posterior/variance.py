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

import jax.numpy as jnp
import numpy as np

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
    z = jnp.asarray(means["Z"])
    per_factor, total = [], []
    for view in model.view_names:
        vm = model.view(view)
        vd = data["views"][view]
        m = np.asarray(vd["mask"])
        lin, nuis = model.view_params(view, {k: jnp.asarray(v) for k, v in means.items()}, data)
        eta = np.asarray(model.linear_predictor(view, lin, data, z))
        baseline = sum(np.asarray(t.contribution(view, lin, data)) for t in vm.terms if t.baseline)
        f_all = eta - baseline - np.asarray(vd["log_offset"])[:, None]
        v_obs = np.asarray(vm.likelihood.latent_variance(jnp.asarray(eta), nuis))

        def ss(x, m=m):
            cnt = np.maximum(m.sum(0), 1)
            mu = (x * m).sum(0) / cnt
            return float((((x - mu) ** 2) * m).sum())

        den = ss(f_all) + float((v_obs * m).sum())
        w = np.asarray(means[f"W_{view}"], dtype=np.float64)
        zn = np.asarray(z, dtype=np.float64)
        # factor k's sum of squares, sum_d w_dk^2 sum_{n obs} (z_nk - mean_{n obs} z_nk)^2, without (n, d) arrays
        mf = m.astype(np.float64)
        cnt = np.maximum(mf.sum(0), 1.0)[:, None]                    # (D, 1)
        sz, sz2 = mf.T @ zn, mf.T @ zn**2                            # (D, K)
        per_factor.append(np.sum(w**2 * (sz2 - sz**2 / cnt), axis=0) / den)
        total.append(ss(zn @ w.T) / den)
    return np.clip(np.array(per_factor), 0.0, 1.0), np.clip(np.array(total), 0.0, 1.0)
