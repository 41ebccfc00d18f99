"""Model-implied canonical correlations between two views, per posterior draw (PCCA; any factor model).

Derivation (Bach & Jordan 2005, Tech. Rep. 688, UC Berkeley, thm. 2; Klami et al. 2013, JMLR
14:965, sec. 2). On the latent (link) scale, view m of subject n is x^m_n = W^m z_n + e^m_n with
z_n ~ N(0, I_K) and e^m_n of variance Psi^m = diag(psi^m_d), the observation-level latent variance
of :mod:`rgfactor.posterior.variance` (sigma_d^2 for Gaussian views, pi^2/3 for Bernoulli,
log(1 + 1/mu + 1/phi) for negative binomial, averaged over subjects). Hence

    Sigma_11 = W^1 W^1T + Psi^1,   Sigma_22 = W^2 W^2T + Psi^2,   Sigma_12 = W^1 W^2T,

and only factors active in both views (the shared ones in PCCA) enter Sigma_12. The canonical
correlations are the singular values of Sigma_11^{-1/2} Sigma_12 Sigma_22^{-1/2}. Writing
X = Sigma_11^{-1/2} W^1_s and Y = Sigma_22^{-1/2} W^2_s over the S shared columns s, the nonzero
singular values of X Y^T are the square roots of the eigenvalues of A_1 A_2, with
A_m = W^m_s^T Sigma_mm^{-1} W^m_s (S x S). Woodbury with G = W^mT Psi^-1 W^m gives
A_m = G_ss - G_s: (I + G)^-1 G_:s, so no p x p matrix is ever formed. For two Gaussian views this
is the population CCA of the model-implied covariance; at the maximum-likelihood W and Psi it equals
classical CCA's sample canonical correlations (Bach & Jordan 2005), to which the posterior
concentrates as N grows. Site and covariate effects are conditioned on (not part of Sigma).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

COMPONENT = "component"


def latent_noise(idata, model, view: str) -> np.ndarray:
    """Observation-level latent variance psi_d of ``view``: (chain, draw, n_features) when the
    likelihood's latent variance does not depend on eta (Gaussian: sigma_d^2 per draw), else
    (n_features,) at the posterior mean, averaged over observed subjects."""
    import jax.numpy as jnp

    post = idata.posterior
    lik = model.view(view).likelihood
    if not lik.variance_depends_on_eta:   # per draw
        nuis = lik.params(view, {k: np.asarray(post[k]) for k in model.view_inputs(view) if k in post})
        shape = np.broadcast_shapes(*(np.shape(v) for v in nuis.values()))
        return np.asarray(lik.latent_variance(jnp.zeros(shape), nuis))
    names = model.view_inputs(view) + [v.name for v in model.view(view).likelihood.variables(view)]
    means = {k: jnp.asarray(post[k].mean(("chain", "draw"))) for k in names if k in post}
    from rgfactor.posterior.loglik import data_from_idata

    data = data_from_idata(idata)
    lin, nuis = model.view_params(view, means, data)
    eta = model.linear_predictor(view, lin, data, model.view_factors(view, means))
    lv = np.asarray(lik.latent_variance(eta, nuis))
    mask = ~np.isnan(np.asarray(idata.observed_data[view]))
    return (lv * mask).sum(0) / np.maximum(mask.sum(0), 1)


def canonical_correlations_from_loadings(w1: np.ndarray, w2: np.ndarray, psi1: np.ndarray, psi2: np.ndarray,
                                         shared: np.ndarray) -> np.ndarray:
    """Canonical correlations per draw (see module docstring).

    Parameters
    ----------
    w1, w2 : (..., p1, K), (..., p2, K) loadings on the latent scale.
    psi1, psi2 : (..., p1), (..., p2) or (p1,), (p2,) positive latent noise variances.
    shared : indices of the S factors that may load on both views.

    Returns
    -------
    (..., S) canonical correlations in [0, 1), descending.
    """

    def a_matrix(w, psi):
        wp = w / psi[..., :, None]
        g = np.einsum("...dk,...dj->...kj", w, wp)
        k = g.shape[-1]
        corr = g[..., shared, :] @ np.linalg.solve(np.eye(k) + g, g[..., :, shared])
        a = g[..., shared][..., shared, :] - corr
        return 0.5 * (a + np.swapaxes(a, -1, -2))

    a1, a2 = a_matrix(w1, np.broadcast_to(psi1, w1.shape[:-1])), a_matrix(w2, np.broadcast_to(psi2, w2.shape[:-1]))
    val, vec = np.linalg.eigh(a1)
    root = vec @ (np.sqrt(np.clip(val, 0, None))[..., None] * np.swapaxes(vec, -1, -2))  # A1^{1/2}
    ev = np.linalg.eigvalsh(root @ a2 @ root)
    return np.sqrt(np.clip(ev, 0.0, 1.0))[..., ::-1]


def canonical_correlations(idata, model, view1: str, view2: str) -> xr.DataArray:
    """Posterior of the canonical correlations between ``view1`` and ``view2``,
    dims (chain, draw, component), components ordered by decreasing correlation per draw.
    ``model``: the fit's :class:`rgfactor.generative.model.Model`."""
    for v in (view1, view2):
        if v not in model.view_names:
            from rgfactor.errors import DataError

            raise DataError(f"unknown view '{v}'; the model has views {list(model.view_names)}.")
    k = model.n_factors
    a1, a2 = (model.view(v).loadings.activity for v in (view1, view2))
    a1 = np.ones(k) if a1 is None else np.asarray(a1)
    a2 = np.ones(k) if a2 is None else np.asarray(a2)
    shared = np.flatnonzero((a1 > 0) & (a2 > 0))
    post = idata.posterior
    w1, w2 = np.asarray(post[f"W_{view1}"]), np.asarray(post[f"W_{view2}"])
    psi1 = latent_noise(idata, model, view1)
    psi2 = latent_noise(idata, model, view2)
    rho = canonical_correlations_from_loadings(w1, w2, psi1, psi2, shared)
    return xr.DataArray(rho, dims=["chain", "draw", COMPONENT],
                        coords={"chain": post.chain.values, "draw": post.draw.values,
                                COMPONENT: np.arange(1, rho.shape[-1] + 1)},
                        name=f"canonical_correlation_{view1}_{view2}")


def summarise(rho: xr.DataArray, hdi_prob: float = 0.94):
    """Posterior mean and HDI per component: DataFrame with columns component, mean, hdi_low, hdi_high."""
    import arviz as az
    import pandas as pd

    hdi = az.hdi(rho.to_dataset(name="rho"), hdi_prob=hdi_prob)["rho"]
    return pd.DataFrame({COMPONENT: rho[COMPONENT].values, "mean": rho.mean(("chain", "draw")).values,
                         "hdi_low": hdi.sel(hdi="lower").values, "hdi_high": hdi.sel(hdi="higher").values})
