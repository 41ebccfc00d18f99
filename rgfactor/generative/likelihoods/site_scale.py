"""Site effects on the noise: a multiplicative effect per (site, feature) with shrinkage across sites.

Radiomic features shift *and* change spread between scanners; sequencing batches do the same to
counts (ComBat's location/scale model, Johnson, Li & Rabinovic 2007, Biostatistics 8:118; Fortin et
al. 2018, NeuroImage 167:104). Inside the model:

* Gaussian views: y_nd ~ N(eta_nd, (tau_d kappa_{s(n),d})^{-1/2}), kappa_sd ~ Gamma(nu, nu) (mean 1),
  nu ~ Gamma(2, 0.2) per view (prior mean 10: a site's noise sd within about +-30% of the feature's
  a priori), tau_d as for :mod:`.gaussian`. Conjugate: q(tau_d), q(kappa_sd) Gamma; nu a MAP point
  estimate in the closed-form engine (declared difference; NumPyro samples it).
* Negative binomial views: dispersion phi_d kappa_sd with the same kappa prior (NumPyro engines only:
  the NB dispersion has no conjugate update).

``site_scale_<view>`` (site, feature) is kappa: the ratio of a site's noise precision (NB: dispersion)
to the feature's. Subjects of a site unseen in training (code -1) get kappa = 1, the prior mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.generative.components import ALL_ENGINES, NUMPYRO_ENGINES
from rgfactor.generative.conjugate import (LOG_2PI, digamma_trigamma, gamma_elp, gamma_entropy, gamma_moments,
                                           lgamma_accurate)
from rgfactor.generative.likelihoods.counts import NegativeBinomial
from rgfactor.generative.likelihoods.gaussian import Gaussian
from rgfactor.generative.variables import PLAIN, Variable

SITE_SCALE = Variable("site_scale_{view}", ("site", "{view}_feature"), PLAIN,
                      "site effect on the noise: ratio of the site's noise precision (NB: dispersion) to the feature's")
SITE_SCALE_SHAPE = Variable("site_scale_shape_{view}", (), PLAIN, "nu: shrinkage of the site scale effects, kappa ~ Gamma(nu, nu)")


def site_factor(kappa, site):
    """kappa[site(n), d] per (subject, feature); 1 for an unseen site (code -1). ``kappa`` may carry
    leading batch dims (draws)."""
    kappa, site = jnp.asarray(kappa), jnp.asarray(site)
    k = jnp.take(kappa, jnp.clip(site, 0, None), axis=-2)
    return jnp.where((site >= 0)[:, None], k, 1.0)


class _SiteScaled:
    """Shared declaration and NumPyro part of the site-scale wrappers (n_sites fixed per model)."""

    def __init__(self, n_sites: int):
        self.n_sites = int(n_sites)

    def __eq__(self, other):
        return type(self) is type(other) and self.n_sites == other.n_sites

    def __hash__(self):
        return hash((type(self).__name__, self.n_sites))

    def shape_prior(self):
        return dist.Gamma(2.0, 0.2)

    def _sample_kappa(self, view: str, n_features: int):
        nu = numpyro.sample(SITE_SCALE_SHAPE.name.format(view=view), self.shape_prior())
        with numpyro.plate("site", self.n_sites, dim=-2), numpyro.plate(f"{view}_feature", n_features, dim=-1):
            return numpyro.sample(SITE_SCALE.name.format(view=view), dist.Gamma(nu, nu))

    def _site_variables(self, view):
        return SITE_SCALE.bind(view=view), SITE_SCALE_SHAPE.bind(view=view)


class SiteScaledGaussian(_SiteScaled, Gaussian):
    """Gaussian noise with a site scale effect (see the module docstring)."""

    engines = ALL_ENGINES
    dense = False   # the precision varies with the subject's site

    def variables(self, view: str):
        return super().variables(view) + self._site_variables(view)

    def sample_nuisance(self, view, n_features, scale, engine="svi", data=None):
        with numpyro.plate(f"{view}_feature", n_features, dim=-1):
            tau = numpyro.sample(f"tau_{view}", self.precision_prior(scale))
        kappa = self._sample_kappa(view, n_features)
        return {"sigma": jax.lax.rsqrt(tau * site_factor(kappa, data["site"]))}

    def params(self, view, values, data=None):
        out = super().params(view, values, data)
        key = SITE_SCALE.name.format(view=view)
        if "sigma" in out and key in values and data is not None and "site" in data:
            out["sigma"] = out["sigma"] / jnp.sqrt(site_factor(values[key], data["site"]))
        return out

    # ------------------------------------------------------------------ closed form
    def cavi_data(self, arrays) -> dict:
        site = np.asarray(arrays.site)
        return {"site_onehot": (site[:, None] == np.arange(self.n_sites)[None, :]).astype(np.float64)}

    def cavi_init(self, y, mask, centre, scale, log_offset):
        q, ql = super().cavi_init(y, mask, centre, scale, log_offset)
        d = y.shape[1]
        q.update(k_a=np.full((self.n_sites, d), 10.0), k_b=np.full((self.n_sites, d), 10.0), log_nu=np.asarray(np.log(10.0)))
        return q, ql

    def _e_kappa_entries(self, q, vd):
        return vd["site_onehot"] @ (q["k_a"] / q["k_b"])

    def cavi_coefficients(self, q, ql, vd):
        p = vd["mask"] * (q["tau_a"] / q["tau_b"])[None, :] * self._e_kappa_entries(q, vd)
        return p, p * vd["y"]

    def _site_ss(self, vd, e_eta, var_eta):
        """(n_sd, ss_sd): observed entries and sum of E[(y - eta)^2] per (site, feature)."""
        m = vd["mask"]
        return vd["site_onehot"].T @ m, vd["site_onehot"].T @ (m * ((vd["y"] - e_eta) ** 2 + var_eta))

    def cavi_update(self, q, ql, vd, e_eta, var_eta, sweep, scale=1.0):
        """q(tau_d), then q(kappa_sd) = Gamma(nu + n_sd/2, nu + E[tau_d] ss_sd / 2), then nu by Newton."""
        n_sd, ss_sd = self._site_ss(vd, e_eta, var_eta)
        n_sd, ss_sd = scale * n_sd, scale * ss_sd
        p = self.precision_prior(vd["scale"])
        e_k = q["k_a"] / q["k_b"]
        q = {**q, "tau_a": p.concentration + 0.5 * jnp.sum(n_sd, axis=0) + 0.0 * q["tau_a"],
             "tau_b": p.rate + 0.5 * jnp.sum(e_k * ss_sd, axis=0)}
        nu = jnp.exp(q["log_nu"])
        e_tau = q["tau_a"] / q["tau_b"]
        q["k_a"] = nu + 0.5 * n_sd
        q["k_b"] = nu + 0.5 * e_tau[None, :] * ss_sd
        q["log_nu"] = self._update_nu(q)
        return q, ql

    def _nu_objective(self, log_nu, e_k, e_log_k):
        nu = jnp.exp(log_nu)
        return (jnp.sum(nu * log_nu - lgamma_accurate(nu) + (nu - 1.0) * e_log_k - nu * e_k)
                + self.shape_prior().log_prob(nu))

    def _update_nu(self, q):
        """Damped Newton steps on log nu of sum_sd E[log Gamma(kappa_sd | nu, nu)] + log p(nu) (concave in
        log nu for a >= 1 prior shape); a step is kept only if the objective rises."""
        e_k, e_log_k = gamma_moments(q["k_a"], q["k_b"])
        count = e_k.size
        prior = self.shape_prior()   # Gamma(a, b): d/dnu log p = (a - 1) / nu - b, d2 = -(a - 1) / nu^2
        lp = q["log_nu"]
        for _ in range(3):
            nu = jnp.exp(lp)
            psi, psi1 = digamma_trigamma(nu)
            g_nu = jnp.sum(lp + 1.0 - psi + e_log_k - e_k) + (prior.concentration - 1.0) / nu - prior.rate
            h_nu = count * (1.0 / nu - psi1) - (prior.concentration - 1.0) / nu**2
            g, h = nu * g_nu, nu * g_nu + nu**2 * h_nu    # derivatives in log nu
            step = jnp.clip(jnp.where(h < 0, -g / jnp.where(h < 0, h, -1.0), 0.5 * jnp.sign(g)), -1.0, 1.0)
            cand = jnp.clip(lp + step, np.log(0.05), np.log(1e4))
            lp = jnp.where(self._nu_objective(cand, e_k, e_log_k) >= self._nu_objective(lp, e_k, e_log_k), cand, lp)
        return lp

    def cavi_update_dense(self, q, vd, n_obs, ss):   # pragma: no cover - the plan never marks it dense
        raise NotImplementedError

    def cavi_blend(self, q, target, rho):
        return {**q, **{k: (1.0 - rho) * q[k] + rho * target[k] for k in ("tau_a", "tau_b", "k_a", "k_b", "log_nu")}}

    def cavi_moments(self, q):
        m = super().cavi_moments(q)
        m["kappa_mean"], m["kappa_log"] = gamma_moments(q["k_a"], q["k_b"])
        m["log_nu"] = q["log_nu"]
        return m

    def point_moments(self, view, values, e_eta, vd):
        m, ql = super().point_moments(view, values, e_eta, vd)
        k = np.asarray(values[SITE_SCALE.name.format(view=view)])
        m.update(kappa_mean=k, kappa_log=np.log(k), log_nu=np.log(np.asarray(values[SITE_SCALE_SHAPE.name.format(view=view)])))
        return m, ql

    def expected_loglik(self, m, ql, vd, e_eta, var_eta):
        n_sd, ss_sd = self._site_ss(vd, e_eta, var_eta)
        return 0.5 * jnp.sum(n_sd * (m["tau_log"][None, :] + m["kappa_log"] - LOG_2PI)
                             - m["tau_mean"][None, :] * m["kappa_mean"] * ss_sd)

    def cavi_elp(self, m, vd):
        nu = jnp.exp(m["log_nu"])
        return (super().cavi_elp(m, vd) + jnp.sum(gamma_elp(dist.Gamma(nu, nu), m["kappa_mean"], m["kappa_log"]))
                + self.shape_prior().log_prob(nu))

    def cavi_entropy(self, q):
        return super().cavi_entropy(q) + jnp.sum(gamma_entropy(q["k_a"], q["k_b"]))

    def cavi_draws(self, view, q, rng, num_draws):
        out = super().cavi_draws(view, q, rng, num_draws)
        out[SITE_SCALE.name.format(view=view)] = rng.gamma(q["k_a"], 1.0 / q["k_b"], size=(num_draws,) + q["k_a"].shape)
        out[SITE_SCALE_SHAPE.name.format(view=view)] = np.full(num_draws, float(np.exp(q["log_nu"])))
        return out

    def cavi_means(self, view, q):
        out = super().cavi_means(view, q)
        out[SITE_SCALE.name.format(view=view)] = q["k_a"] / q["k_b"]
        out[SITE_SCALE_SHAPE.name.format(view=view)] = np.exp(q["log_nu"])
        return out


class SiteScaledNB(_SiteScaled, NegativeBinomial):
    """NB counts whose dispersion is phi_d kappa_{s(n),d} (NumPyro engines)."""

    engines = NUMPYRO_ENGINES

    def variables(self, view: str):
        return super().variables(view) + self._site_variables(view)

    def sample_nuisance(self, view, n_features, scale, engine="svi", data=None):
        out = super().sample_nuisance(view, n_features, scale, engine, data)
        kappa = self._sample_kappa(view, n_features)
        return {"dispersion": out["dispersion"] * site_factor(kappa, data["site"])}

    def params(self, view, values, data=None):
        out = super().params(view, values, data)
        key = SITE_SCALE.name.format(view=view)
        if "dispersion" in out and key in values and data is not None and "site" in data:
            out["dispersion"] = out["dispersion"] * site_factor(values[key], data["site"])
        return out


SCALED = {"gaussian": SiteScaledGaussian, "negative_binomial": SiteScaledNB}


def with_site_scale(likelihood, n_sites: int):
    """The site-scaled version of a likelihood, or None where a site scale effect is not defined
    (Bernoulli, Poisson: location only)."""
    cls = SCALED.get(likelihood.name)
    return None if cls is None else cls(n_sites)


__all__ = ["SiteScaledGaussian", "SiteScaledNB", "with_site_scale", "site_factor"]
