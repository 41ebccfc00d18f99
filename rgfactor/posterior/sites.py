"""Site effects after the fit: harmonised features and variance components per feature.

* :func:`harmonize`: each feature with the site location and scale removed and the biology kept,
  on the view's own data scale. Gaussian views: y~_nd = b_d + z_n.w_d + x_n.beta_d + (y_nd - eta_nd)
  sqrt(kappa_{s(n),d}), i.e. the subject's fitted biological mean plus its residual rescaled from its
  site's noise sd to the feature's, then back through the fitted transform (Fortin et al. 2018's
  ComBat output, but from the joint model's posterior means). Count views: quantile matching, the
  count's quantile under the fitted NB of its site mapped to the same quantile of the NB without site
  effects (ComBat-seq, Zhang, Parmigiani & Johnson 2020, NAR Genom Bioinform 2:lqaa078).
  Subjects of a site the fit did not see get that site's effects estimated from them under the fitted
  hierarchical prior (:func:`new_site_effects`).
* :func:`variance_components`: per feature, the shares of the latent-scale variance due to the
  factors, the covariates, the site (location) and the residual, per posterior draw, with the site
  intra-class correlation; the feature-stability summary radiomics papers report (subject vs scanner
  vs residual variance).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import stats

from rgfactor.errors import DataWarning
from rgfactor.generative.likelihoods.site_scale import SITE_SCALE, SITE_SCALE_SHAPE, SiteScaledGaussian
from rgfactor.generative.likelihoods.counts import DISPERSION
from rgfactor.generative.likelihoods.gaussian import SIGMA
from rgfactor.generative.terms import SITE_SD, Covariates, SiteLocation
from rgfactor.posterior.summary import HDI_PROB, hdi_bounds

COMPONENTS = ("factors", "covariates", "site", "residual")
MIN_NEW_SITE_SUBJECTS = 5   # fewer subjects: a new site's effects are mostly its prior's (a warning)


def site_proportions(site_code, n_sites: int) -> np.ndarray:
    """(n_sites,) share of the subjects at each site (codes < 0, unseen sites, left out)."""
    site_code = np.asarray(site_code)
    seen = site_code[site_code >= 0]
    return np.bincount(seen, minlength=n_sites) / max(len(seen), 1)


def _term(model, view, kind):
    """The view's term of class ``kind``, or None."""
    return next((t for t in model.view(view).terms if isinstance(t, kind)), None)


def _site_term(model, view):
    """The view's site-location term, or None."""
    return _term(model, view, SiteLocation)


def _biological(model, view, params, data, z):
    """eta without the site terms (intercept, factors, covariates, offset), model scale."""
    no_site = dict(params)
    term = _site_term(model, view)
    if term is not None:
        name = term.coefficient.format(view=view)
        no_site[name] = np.zeros_like(np.asarray(params[name]))
    lin, _ = model.view_params(view, no_site)
    return np.asarray(model.linear_predictor(view, lin, data, z))


def new_site_effects(model, view: str, params: dict, y, mask, eta_bio, n_iter: int = 3):
    """Posterior means (u, kappa) (D,) of an unseen site's location and scale effects on a Gaussian
    view, from its subjects' residuals y - eta_bio under the fitted prior: u_d ~ N(0, site_sd_d^2),
    kappa_d ~ Gamma(nu, nu), noise precision tau_d kappa_d (alternating conditional means)."""
    tau = 1.0 / np.asarray(params[SIGMA.name.format(view=view)]) ** 2
    sd = np.asarray(params.get(SITE_SD.name.format(view=view), np.full(tau.shape, np.inf)))
    nu = float(np.asarray(params.get(SITE_SCALE_SHAPE.name.format(view=view), np.inf)))
    r = np.where(mask, y - eta_bio, 0.0)
    n = mask.sum(axis=0)
    kappa = np.ones_like(tau)
    u = np.zeros_like(tau)
    for _ in range(n_iter):
        u = (r.sum(axis=0) * tau * kappa) / (1.0 / sd**2 + n * tau * kappa)
        if np.isfinite(nu):
            ss = np.where(mask, (r - u) ** 2, 0.0).sum(axis=0)
            kappa = (nu + 0.5 * n) / (nu + 0.5 * tau * ss)
    return u, kappa


def _clip_to_observed(view: str, y: np.ndarray, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Yeo-Johnson views: harmonised values clipped to each feature's observed range on the transformed
    scale. The transform's image is bounded for lambda < 0 (above) and lambda > 2 (below), and its inverse
    explodes near the bound, so a value moved beyond the data has no sensible raw-scale preimage."""
    lo = np.nanmin(np.where(mask, observed, np.inf), axis=0)
    hi = np.nanmax(np.where(mask, observed, -np.inf), axis=0)
    clipped = np.clip(y, lo, hi)
    n = int(np.sum(np.abs(np.nan_to_num(clipped - y)) > 0))
    if n:
        warnings.warn(f"view '{view}': {n} harmonised value(s) fell outside their feature's observed range on the "
                      "Yeo-Johnson scale and were clipped to it (the inverse transform is unbounded there).",
                      DataWarning, stacklevel=4)
    return clipped


def harmonize(model, preprocessing, params: dict, arrays, data: dict, z: np.ndarray,
              site_weights: np.ndarray | None = None) -> dict:
    """dict view -> (n_subjects, n_features) harmonised values on the data scale (see module
    docstring), for the views with site effects (Gaussian and count views).

    ``site_weights`` (n_sites,): the training cohort's site proportions p_s. A Gaussian residual is
    rescaled to the pooled noise variance sigma_d^2 sum_s p_s / kappa_sd (as ComBat rescales to the
    pooled variance); uniform when not given."""
    from rgfactor.data.preprocess import invert_view

    site = np.asarray(arrays.site) if arrays.site is not None else None
    out = {}
    for v in arrays.views:
        vm = model.view(v.name)
        term = _site_term(model, v.name)
        if site is None or term is None or v.likelihood not in ("gaussian", "negative_binomial"):
            continue
        eta_bio = _biological(model, v.name, params, data, z)
        u = np.asarray(params[term.coefficient.format(view=v.name)])            # (S, D)
        kappa = np.asarray(params.get(SITE_SCALE.name.format(view=v.name), np.ones_like(u)))
        u_n, k_n = u[np.clip(site, 0, None)].copy(), kappa[np.clip(site, 0, None)].copy()
        for code in np.unique(site[site < 0]):
            rows = site == code
            if rows.sum() < MIN_NEW_SITE_SUBJECTS:
                warnings.warn(f"view '{v.name}': {int(rows.sum())} subject(s) from a site the fit did not see: its "
                              f"site effects are estimated from fewer than {MIN_NEW_SITE_SUBJECTS} subjects and stay "
                              "close to the prior.", DataWarning, stacklevel=3)
            if v.likelihood == "gaussian":
                nu_, nk = new_site_effects(model, v.name, params, v.y[rows], v.mask[rows], eta_bio[rows])
                u_n[rows], k_n[rows] = nu_, nk
            else:
                u_n[rows], k_n[rows] = 0.0, 1.0
        if v.likelihood == "gaussian":
            p = np.full(kappa.shape[0], 1.0 / kappa.shape[0]) if site_weights is None else np.asarray(site_weights)
            pooled = p @ (1.0 / kappa)                                 # (D,) pooled noise variance / sigma_d^2
            y = eta_bio + (v.y - eta_bio - u_n) * np.sqrt(k_n * pooled[None, :])
            y = np.where(v.mask, y, np.nan)
            vp = preprocessing.views[v.name]
            if vp.transform == "yeo-johnson":
                y = _clip_to_observed(v.name, y, v.y, v.mask)
            out[v.name] = invert_view(vp, y)
        else:
            phi = np.asarray(params[DISPERSION.name.format(view=v.name)])[None, :]
            # the site's dispersion as the likelihood defines it (its site scale, if any; 1 for unseen sites)
            phi_site = np.broadcast_to(np.asarray(vm.likelihood.params(v.name, params, data)["dispersion"]), v.y.shape)
            mu_site, mu_ref = np.exp(eta_bio + u_n), np.exp(eta_bio)
            q = stats.nbinom.cdf(v.y, phi_site, phi_site / (phi_site + mu_site))
            q = np.clip(q, 1e-12, 1.0 - 1e-12)
            adj = stats.nbinom.ppf(q, phi, phi / (phi + mu_ref))
            out[v.name] = np.where(v.mask, adj, np.nan)
    return out


def variance_components(model, idata, max_draws: int = 200) -> xr.Dataset:
    """Per view and feature, the posterior of the shares of latent-scale variance due to the factors,
    covariates, site (location) and residual, and the site intra-class correlation.

    Variance of each part over the cohort's subjects, per draw: factors w_d' Cov(Z) w_d; covariates
    beta_d' Cov(X) beta_d; site sum_s p_s (u_sd - mean_s u_sd)^2 (p_s the site proportions); residual
    the likelihood's observation-level latent variance (Gaussian: sigma_d^2 averaged over the subjects'
    sites, 1/kappa; NB/Bernoulli: at the posterior mean, as in the variance explained). Shares divide by
    their sum; site ICC = site / sum.

    Returns
    -------
    xr.Dataset with, per view, ``share_<view>`` (<view>_feature, component, statistic) for statistic
    in (mean, hdi_3%, hdi_97%), and ``site_icc_<view>`` (<view>_feature, statistic).
    """
    from rgfactor.posterior.canonical import latent_noise

    post = idata.posterior
    flat = post.stack(sample=("chain", "draw"))
    n_samples = flat.sizes["sample"]
    take = np.linspace(0, n_samples - 1, min(max_draws, n_samples)).astype(int)
    z = np.asarray(flat["Z"].transpose("sample", "subject", "factor"))[take]
    zc = z - z.mean(axis=1, keepdims=True)
    cov_z = np.einsum("snk,snl->skl", zc, zc) / z.shape[1]
    const = idata.constant_data
    site = np.asarray(const["site_code"]) if "site_code" in const else None
    out = {}
    for view in model.view_names:
        lik = model.view(view).likelihood
        w = np.asarray(flat[f"W_{view}"].transpose("sample", ...))[take]          # (S, D, K)
        parts = {"factors": np.einsum("sdk,skl,sdl->sd", w, cov_z, w)}
        cov_term, site_term = _term(model, view, Covariates), _site_term(model, view)
        if cov_term is not None:
            x = np.asarray(const["covariates"])
            beta = np.asarray(flat[cov_term.coefficient.format(view=view)].transpose("sample", ...))[take]   # (S, C, D)
            xb = np.einsum("nc,scd->snd", x, beta)
            parts["covariates"] = xb.var(axis=1)
        else:
            parts["covariates"] = np.zeros_like(parts["factors"])
        if site_term is not None and site is not None:
            u = np.asarray(flat[site_term.coefficient.format(view=view)].transpose("sample", ...))[take]   # (S, sites, D)
            p = site_proportions(site, u.shape[1])
            mean = np.einsum("s,nsd->nd", p, u)
            parts["site"] = np.einsum("s,nsd->nd", p, (u - mean[:, None, :]) ** 2)
        else:
            parts["site"] = np.zeros_like(parts["factors"])
        if not lik.variance_depends_on_eta:
            sigma2 = np.asarray(flat[SIGMA.name.format(view=view)].transpose("sample", ...))[take] ** 2
            if isinstance(lik, SiteScaledGaussian) and site is not None:
                kappa = np.asarray(flat[SITE_SCALE.name.format(view=view)].transpose("sample", ...))[take]
                p = site_proportions(site, kappa.shape[1])
                sigma2 = sigma2 * np.einsum("s,nsd->nd", p, 1.0 / kappa)
            parts["residual"] = sigma2
        else:
            parts["residual"] = np.broadcast_to(np.asarray(latent_noise(idata, model, view)), parts["factors"].shape)
        total = sum(parts[c] for c in COMPONENTS)
        shares = np.stack([parts[c] / total for c in COMPONENTS], axis=-1)              # (S, D, 4)
        feat = f"{view}_feature"

        def summary(x):
            low, high = hdi_bounds(x, HDI_PROB)
            return np.stack([x.mean(axis=0), low, high], axis=-1)

        coords = {feat: post[feat].values, "component": list(COMPONENTS), "statistic": ["mean", "hdi_3%", "hdi_97%"]}
        out[f"share_{view}"] = xr.DataArray(summary(shares), dims=[feat, "component", "statistic"], coords=coords)
        out[f"site_icc_{view}"] = xr.DataArray(summary(shares[..., 2]), dims=[feat, "statistic"],
                                               coords={feat: coords[feat], "statistic": coords["statistic"]})
    return xr.Dataset(out)
