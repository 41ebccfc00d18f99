"""Gaussian views: y_nd ~ Normal(eta_nd, sigma_d) (identity link).

Noise prior, the same for every engine: tau_d = 1 / sigma_d^2 ~ Gamma(2, rate 0.5 scale_d^2), i.e.
sigma_d^2 ~ InverseGamma(2, 0.5 scale_d^2) with scale_d the feature's sd: prior mean of the noise
variance half the feature's variance, and a density that vanishes as sigma_d -> 0. The latter keeps
the posterior off the Heywood boundary (a factor collapsing onto one feature with zero noise; Martin &
McDonald 1975, Psychometrika 40:505), where the HalfNormal(scale_d) prior of earlier versions let
NUTS diverge (tests/test_recovery.py). It is conjugate, so the closed-form engine uses it too (in
place of MOFA+'s near-improper Gamma(1e-3, 1e-3)); with n_d observations of a feature the posterior
is Gamma(2 + n_d / 2, ...), so the prior weighs like 4 observations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy.special import gammaln

from rgfactor.generative.components import ALL_ENGINES
from rgfactor.generative.conjugate import LOG_2PI, gamma_elp, gamma_entropy, gamma_moments
from rgfactor.generative.likelihoods.base import Likelihood, register
from rgfactor.generative.variables import HELPER, PLAIN, Variable

SIGMA = Variable("sigma_{view}", ("{view}_feature",), PLAIN, "Gaussian noise sd")
TAU = Variable("tau_{view}", ("{view}_feature",), HELPER, "noise precision 1/sigma^2 (the sampled variable)")


class Gaussian(Likelihood):
    name = "gaussian"
    link = "identity"
    nuisance_variables = (SIGMA,)
    engines = ALL_ENGINES
    dense = True
    variance_depends_on_eta = False

    def variables(self, view: str):
        return SIGMA.bind(view=view), TAU.bind(view=view)

    def precision_prior(self, scale):
        """Prior of tau_d = 1 / sigma_d^2 (every engine)."""
        return dist.Gamma(2.0, 0.5 * jnp.asarray(scale) ** 2)

    def sample_nuisance(self, view: str, n_features: int, scale, engine: str = "svi", data=None) -> dict:
        with numpyro.plate(f"{view}_feature", n_features, dim=-1):
            tau = numpyro.sample(f"tau_{view}", self.precision_prior(scale))
        return {"sigma": jax.lax.rsqrt(tau)}

    def derive(self, view: str, draws: dict) -> dict:
        if f"tau_{view}" in draws and f"sigma_{view}" not in draws:
            draws[f"sigma_{view}"] = 1.0 / np.sqrt(draws[f"tau_{view}"])
        return draws

    def init_values(self, view: str, values: dict, engine: str) -> dict:
        if f"sigma_{view}" in values and f"tau_{view}" not in values:
            values = {**values, f"tau_{view}": 1.0 / np.asarray(values[f"sigma_{view}"]) ** 2}
        return values

    def distribution(self, eta, params):
        return dist.Normal(eta, params["sigma"])

    def mean(self, eta, params):
        return eta

    def latent_variance(self, eta, params):
        return jnp.broadcast_to(params["sigma"] ** 2, jnp.shape(eta))

    # ------------------------------------------------------------------ closed form
    def cavi_init(self, y, mask, centre, scale, log_offset):
        return {"tau_a": np.ones(y.shape[1]), "tau_b": np.asarray(scale, dtype=np.float64) ** 2}, {}

    def cavi_coefficients(self, q, ql, vd):
        p = vd["mask"] * (q["tau_a"] / q["tau_b"])[None, :]
        return p, p * vd["y"]

    def dense_precision(self, q):
        return q["tau_a"] / q["tau_b"]

    @staticmethod
    def squared_error(vd, e_eta, var_eta):
        """(n_obs_d, ss_d = sum_n m_nd E[(y_nd - eta_nd)^2])."""
        mask = vd["mask"]
        return jnp.sum(mask, axis=0), jnp.sum(mask * ((vd["y"] - e_eta) ** 2 + var_eta), axis=0)

    def cavi_update(self, q, ql, vd, e_eta, var_eta, sweep, scale=1.0):
        n_obs, ss = self.squared_error(vd, e_eta, var_eta)
        return self.cavi_update_dense(q, vd, scale * n_obs, scale * ss), ql

    def cavi_local(self, q, ql, vd, e_eta, var_eta):
        return ql

    def cavi_update_dense(self, q, vd, n_obs, ss):
        """q(tau_d) = Gamma(a0 + n_d / 2, b0 + ss_d / 2)."""
        p = self.precision_prior(vd["scale"])
        return {"tau_a": p.concentration + 0.5 * n_obs + 0.0 * q["tau_a"], "tau_b": p.rate + 0.5 * ss}

    def cavi_blend(self, q, target, rho):
        """Natural-gradient step on (shape, rate) of q(tau_d)."""
        return {k: (1.0 - rho) * q[k] + rho * target[k] for k in ("tau_a", "tau_b")}

    def cavi_moments(self, q):
        e, e_log = gamma_moments(q["tau_a"], q["tau_b"])
        return {"tau_mean": e, "tau_log": e_log}

    def point_moments(self, view, values, e_eta, vd):
        tau = 1.0 / np.asarray(values[f"sigma_{view}"]) ** 2 if f"tau_{view}" not in values \
            else np.asarray(values[f"tau_{view}"])
        return {"tau_mean": tau, "tau_log": np.log(tau)}, {}

    def expected_loglik(self, m, ql, vd, e_eta, var_eta):
        return self.expected_loglik_dense(m, *self.squared_error(vd, e_eta, var_eta))

    def expected_loglik_dense(self, m, n_obs, ss):
        """sum_d [n_d (E log tau_d - log 2 pi) - E tau_d ss_d] / 2."""
        return 0.5 * jnp.sum(n_obs * (m["tau_log"] - LOG_2PI) - m["tau_mean"] * ss)

    def cavi_elp(self, m, vd):
        return jnp.sum(gamma_elp(self.precision_prior(vd["scale"]), m["tau_mean"], m["tau_log"]))

    def cavi_entropy(self, q):
        return jnp.sum(gamma_entropy(q["tau_a"], q["tau_b"]))

    def cavi_draws(self, view, q, rng, num_draws):
        tau = rng.gamma(shape=q["tau_a"], scale=1.0 / q["tau_b"], size=(num_draws,) + q["tau_a"].shape)
        return {f"sigma_{view}": 1.0 / np.sqrt(tau)}

    def cavi_means(self, view, q):
        a, b = q["tau_a"], q["tau_b"]   # E[tau^{-1/2}] for tau ~ Gamma(a, b)
        return {f"sigma_{view}": np.sqrt(b) * np.exp(gammaln(a - 0.5) - gammaln(a))}


GAUSSIAN = register(Gaussian())
