"""Loadings priors, one per view: ARD, regularised horseshoe, spike-and-slab, and the PPLS response.

* :class:`ARDLoadings` alpha_k ~ Gamma(a, b), w_dk ~ N(0, alpha_k^{-1/2}) (Bishop 1999; Klami et al.
  2015, eq. 3). All engines.
* :class:`HorseshoeLoadings` ARD times regularised-horseshoe local scales (Piironen & Vehtari 2017,
  EJS 11:5018, eq. 2.8). NumPyro engines only (no conjugate update).
* :class:`SpikeSlabLoadings` w_dk = s_dk v_dk, s_dk ~ Bernoulli(theta_k), theta_k ~ Beta(1, 1),
  v_dk ~ N(0, alpha_k^{-1/2}) (MOFA+, Argelaguet et al. 2020; Titsias & Lazaro-Gredilla 2011).
  Closed-form engine only (discrete s).
* :class:`PPLSResponse` loadings C of a PPLS response view on U = T B + H (el Bouhaddani et al. 2018).

``activity`` (K,) 0/1 fixes which factors may load on the view (PCCA, PPLS); an inactive factor's
loadings are sampled from the prior but multiplied by 0, in every engine, so the engines share one
model (its ARD precision then keeps its prior).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import LocScaleReparam

from rgfactor.generative.components import ALL_ENGINES, NUMPYRO_ENGINES, active_mask
from rgfactor.generative.conjugate import (
    batched_gaussian,
    beta_elp,
    beta_log_moments,
    gamma_elp,
    gamma_moments,
    gaussian_entropy,
    normal_precision_elp,
)
from rgfactor.generative.variables import FACTOR_SCALE, HELPER, PLAIN, SCORES, Role, Variable

ALPHA = Variable("alpha_{view}", ("factor",), FACTOR_SCALE, "ARD precision: large = factor inactive in the view")
W = Variable("W_{view}", ("{view}_feature", "factor"), SCORES, "loadings")
C2 = Variable("c2_{view}", (), PLAIN, "horseshoe slab variance")
LAMBDA = Variable("lambda_{view}", ("{view}_feature", "factor"), HELPER | Role.FACTOR, "horseshoe local scales")
THETA = Variable("theta_{view}", ("factor",), FACTOR_SCALE, "spike-and-slab: prior inclusion probability")
INCLUDE = Variable("include_{view}", ("{view}_feature", "factor"), HELPER | Role.FACTOR, "spike-and-slab indicator s")
SLAB = Variable("slab_{view}", ("{view}_feature", "factor"), HELPER | Role.FACTOR, "spike-and-slab slab value v")
PPLS_C = Variable("ppls_C_{view}", ("{view}_feature", "component"), HELPER, "PPLS response loadings C")
# NUTS samples the loadings non-centred; the raw variables are declared so that nothing undeclared reaches
# the posterior layer
W_RAW = Variable("W_{view}_decentered", ("{view}_feature", "factor"), HELPER, "non-centred loadings (NUTS)")
PPLS_C_RAW = Variable("ppls_C_{view}_decentered", ("{view}_feature", "component"), HELPER,
                      "non-centred PPLS response loadings (NUTS)")


def _plates(view: str, n_features: int, n_factors: int, plate: str):
    # the feature plate of (feature, factor) arrays sits at dim -2, so it gets its own name
    return numpyro.plate(f"{view}_loading_row", n_features, dim=-2), numpyro.plate(plate, n_factors, dim=-1)


# ============================================================================== ARD
@dataclass(frozen=True)
class ARDLoadings:
    """Automatic relevance determination per (view, factor)."""

    shape: float = 1.0
    rate: float = 1.0
    activity: tuple[int, ...] | None = None
    engines = ALL_ENGINES

    def variables(self, view: str) -> tuple[Variable, ...]:
        return ALPHA.bind(view=view), W.bind(view=view), W_RAW.bind(view=view)

    def conjugate(self) -> ARDLoadings:
        """The loadings prior the closed-form engine fits (itself)."""
        return self

    def alpha_prior(self) -> dist.Gamma:
        return dist.Gamma(self.shape, self.rate)

    def mask(self, n_factors: int) -> np.ndarray:
        return active_mask(self.activity, n_factors)

    # ------------------------------------------------------------------ NumPyro
    def sample_alpha(self, view: str, n_factors: int, plate: str = "factor"):
        with numpyro.plate(plate, n_factors, dim=-1):
            return numpyro.sample(f"alpha_{view}", self.alpha_prior())

    def sample(self, view: str, n_features: int, n_factors: int, engine: str, extras: dict,
               name: str | None = None, plate: str = "factor"):
        """Sample ``alpha_<view>`` and the loadings; returns the effective loadings (D, K).

        Under NUTS the loadings are non-centred (W = alpha^{-1/2} W_decentered, LocScaleReparam),
        which removes the funnel between the ARD precision and its loadings.
        """
        alpha = self.sample_alpha(view, n_factors, plate)
        scale = jnp.broadcast_to(jax.lax.rsqrt(alpha), (n_features, n_factors))
        return self._sample_w(view, n_features, n_factors, scale, engine, name, plate)

    def _sample_w(self, view, n_features, n_factors, scale, engine, name, plate):
        name = name or f"W_{view}"
        rows, cols = _plates(view, n_features, n_factors, plate)
        with numpyro.handlers.reparam(config={name: LocScaleReparam(0.0)} if engine == "nuts" else {}):
            with rows, cols:
                w = numpyro.sample(name, dist.Normal(0.0, scale))
        return w if self.activity is None else w * jnp.asarray(self.mask(n_factors))

    def init_values(self, view: str, values: dict, engine: str, name: str | None = None) -> dict:
        """Initial values of the sampled sites from reported-scale values (NUTS: the non-centred W)."""
        name = name or f"W_{view}"
        if engine != "nuts" or name not in values:
            return values
        out = dict(values)
        # decentered = W * sqrt(alpha): the PCA loadings on the unit scale of their ARD prior
        out[f"{name}_decentered"] = np.asarray(out.pop(name)) * np.sqrt(np.asarray(out[f"alpha_{view}"]))
        return out

    def derive(self, view: str, draws: dict, extras: dict) -> dict:
        if self.activity is not None and f"W_{view}" in draws:
            draws[f"W_{view}"] = draws[f"W_{view}"] * self.mask(draws[f"W_{view}"].shape[-1])
        return draws

    # ------------------------------------------------------------------ closed form
    def cavi_init(self, n_features: int, n_factors: int, scale: np.ndarray) -> dict:
        d, k = n_features, n_factors
        alpha_b = np.full(k, np.mean(scale**2))
        prec = np.broadcast_to(np.diag(1.0 / alpha_b), (d, k, k)).copy()   # natural parameters of the prior
        return {"Ew": np.zeros((d, k)), "W_cov": np.linalg.inv(prec), "W_logdet": np.full(d, np.sum(np.log(alpha_b))),
                "EWW": np.zeros((d, k, k)), "W_prec": prec, "W_lin": np.zeros((d, k)), "alpha_a": np.ones(k),
                "alpha_b": alpha_b}

    def cavi_update(self, q: dict, lin, gram) -> dict:
        """q(w_d) = N(Sigma_d lin_d, Sigma_d), Sigma_d^{-1} = diag(E alpha) + A G_d A, then
        q(alpha_k) = Gamma(a + D/2, b + sum_d E[w_dk^2] / 2) (A: the activity mask)."""
        k = lin.shape[1]
        a = jnp.asarray(self.mask(k), dtype=lin.dtype)
        e_alpha = q["alpha_a"] / q["alpha_b"]
        q = self._set_w(q, gram * (a[:, None] * a[None, :]) + jnp.diag(e_alpha)[None], lin * a)
        return self._update_alpha(q)

    def _set_w(self, q, prec, lin):
        k = lin.shape[1]
        a = jnp.asarray(self.mask(k), dtype=lin.dtype)
        mean, cov, logdet = batched_gaussian(prec, lin)
        q = {**q, "Ew": mean, "W_cov": cov, "W_logdet": logdet, "W_prec": prec, "W_lin": lin}
        q["EWW"] = (cov + mean[:, :, None] * mean[:, None, :]) * (a[:, None] * a[None, :])
        return q

    def _update_alpha(self, q):
        p = self.alpha_prior()
        ew2 = jnp.diagonal(q["W_cov"], axis1=1, axis2=2) + q["Ew"] ** 2
        return {**q, "alpha_a": p.concentration + 0.5 * q["Ew"].shape[0] + 0.0 * q["alpha_a"],
                "alpha_b": p.rate + 0.5 * jnp.sum(ew2, axis=0)}

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        """Natural-gradient step (stochastic VI): natural parameters move a fraction ``rho`` towards
        ``target`` (the update computed from a rescaled minibatch): (Sigma^{-1}, Sigma^{-1} mu) of
        q(w_d) and (shape, rate) of q(alpha_k)."""
        q = self._set_w(q, (1.0 - rho) * q["W_prec"] + rho * target["W_prec"],
                        (1.0 - rho) * q["W_lin"] + rho * target["W_lin"])
        return {**q, "alpha_a": (1.0 - rho) * q["alpha_a"] + rho * target["alpha_a"],
                "alpha_b": (1.0 - rho) * q["alpha_b"] + rho * target["alpha_b"]}

    def effective(self, q: dict):
        """(E[W], E[w_d w_d^T]) of the loadings the likelihood sees (activity applied)."""
        k = q["Ew"].shape[1]
        return q["Ew"] * jnp.asarray(self.mask(k)), q["EWW"]

    def cavi_moments(self, q: dict) -> dict:
        e_alpha, e_log_alpha = gamma_moments(q["alpha_a"], q["alpha_b"])
        return {"w_second": jnp.diagonal(q["W_cov"], axis1=1, axis2=2) + q["Ew"] ** 2,
                "alpha_mean": e_alpha, "alpha_log": e_log_alpha}

    def point_moments(self, view: str, values: dict) -> tuple[dict, tuple]:
        """(prior moments, (E[W], E[w w^T]) effective) at a point mass."""
        w, alpha = np.asarray(values[f"W_{view}"]), np.asarray(values[f"alpha_{view}"])
        weff = w * self.mask(w.shape[1])
        return ({"w_second": w**2, "alpha_mean": alpha, "alpha_log": np.log(alpha)},
                (weff, weff[:, :, None] * weff[:, None, :]))

    def cavi_elp(self, m: dict):
        return (jnp.sum(normal_precision_elp(m["alpha_mean"][None], m["alpha_log"][None], m["w_second"]))
                + jnp.sum(gamma_elp(self.alpha_prior(), m["alpha_mean"], m["alpha_log"])))

    def cavi_entropy(self, q: dict):
        k = q["Ew"].shape[1]
        return jnp.sum(gaussian_entropy(q["W_logdet"], k)) + jnp.sum(dist.Gamma(q["alpha_a"], q["alpha_b"]).entropy())

    def cavi_draws(self, view: str, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        k = q["Ew"].shape[1]
        chol = np.linalg.cholesky(q["W_cov"] + 1e-12 * np.eye(k))
        eps = rng.standard_normal((num_draws,) + q["Ew"].shape)
        w = q["Ew"][None] + np.einsum("bkl,sbl->sbk", chol, eps)
        alpha = rng.gamma(shape=q["alpha_a"], scale=1.0 / q["alpha_b"], size=(num_draws, k))
        return {f"W_{view}": w * self.mask(k), f"alpha_{view}": alpha}

    def cavi_means(self, view: str, q: dict) -> dict:
        k = q["Ew"].shape[1]
        return {f"W_{view}": q["Ew"] * self.mask(k),
                f"W_{view}_var": (np.diagonal(q["W_cov"], axis1=1, axis2=2)) * self.mask(k),
                f"alpha_{view}": q["alpha_a"] / q["alpha_b"]}

    def with_activity(self, activity) -> ARDLoadings:
        return replace(self, activity=None if activity is None else tuple(int(a) for a in activity))


# ============================================================================== horseshoe
@dataclass(frozen=True)
class HorseshoeLoadings(ARDLoadings):
    """ARD with regularised-horseshoe local scales:

    lambda_dk ~ HalfCauchy(1);  c2 ~ InvGamma(df/2, df s^2/2);  tau_k = alpha_k^{-1/2};
    lambda~^2 = c^2 lambda^2 / (c^2 + tau_k^2 lambda^2);  w_dk ~ N(0, tau_k lambda~_dk).
    """

    slab_scale: float = 2.0
    slab_df: float = 4.0
    engines = NUMPYRO_ENGINES

    def variables(self, view: str) -> tuple[Variable, ...]:
        return (ALPHA.bind(view=view), C2.bind(view=view), LAMBDA.bind(view=view), W.bind(view=view),
                W_RAW.bind(view=view))

    def sample(self, view: str, n_features: int, n_factors: int, engine: str, extras: dict,
               name: str | None = None, plate: str = "factor"):
        alpha = self.sample_alpha(view, n_factors, plate)
        tau = jax.lax.rsqrt(alpha)
        c2 = numpyro.sample(f"c2_{view}", dist.InverseGamma(self.slab_df / 2.0,
                                                             self.slab_df * self.slab_scale**2 / 2.0))
        rows, cols = _plates(view, n_features, n_factors, plate)
        with rows, cols:
            lam = numpyro.sample(f"lambda_{view}", dist.HalfCauchy(1.0))
        scale = tau * jnp.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
        return self._sample_w(view, n_features, n_factors, scale, engine, name, plate)


# ============================================================================== spike-and-slab
@dataclass(frozen=True)
class SpikeSlabLoadings(ARDLoadings):
    """Spike-and-slab loadings on top of ARD; q(s_dk, v_dk) factorises over (d, k) (Titsias &
    Lazaro-Gredilla 2011) with q(v | s = 0) = N(0, 1 / E[alpha_k]), the exact coordinate optimum."""

    engines = frozenset({"cavi"})
    cavi_blend = None   # q is a mixture: no natural-gradient step (stochastic VI needs ARD)

    def variables(self, view: str) -> tuple[Variable, ...]:
        return (ALPHA.bind(view=view), THETA.bind(view=view), INCLUDE.bind(view=view), SLAB.bind(view=view),
                W.bind(view=view))

    def theta_prior(self) -> dist.Beta:
        return dist.Beta(1.0, 1.0)

    def sample(self, view: str, n_features: int, n_factors: int, engine: str, extras: dict,
               name: str | None = None, plate: str = "factor"):
        """The spike-and-slab program (discrete indicators: prior predictive and log density only)."""
        alpha = self.sample_alpha(view, n_factors, plate)
        with numpyro.plate(plate, n_factors, dim=-1):
            theta = numpyro.sample(f"theta_{view}", self.theta_prior())
        rows, cols = _plates(view, n_features, n_factors, plate)
        with rows, cols:
            s = numpyro.sample(f"include_{view}", dist.Bernoulli(jnp.broadcast_to(theta, (n_features, n_factors))))
            v = numpyro.sample(f"slab_{view}", dist.Normal(0.0, jnp.broadcast_to(jax.lax.rsqrt(alpha),
                                                                                 (n_features, n_factors))))
        return numpyro.deterministic(name or f"W_{view}", s * v * jnp.asarray(self.mask(n_factors)))

    def cavi_init(self, n_features: int, n_factors: int, scale: np.ndarray) -> dict:
        d, k = n_features, n_factors
        return {"Ew": np.zeros((d, k)), "EWW": np.zeros((d, k, k)), "alpha_a": np.ones(k),
                "alpha_b": np.full(k, np.mean(scale**2)), "W_mu": np.zeros((d, k)), "W_lam": np.ones((d, k)),
                "W_logit": np.zeros((d, k)), "W_v0": np.ones(k), "theta_a": np.ones(k), "theta_b": np.ones(k)}

    def cavi_update(self, q: dict, lin, gram) -> dict:
        """One pass over factors k: lambda = E alpha_k + G_kk, mu = (lin_k - sum_{j != k} G_kj E[s v]_j) / lambda,
        logit q(s = 1) = E logit theta + lambda mu^2 / 2 - log(lambda) / 2 + log(E alpha_k) / 2;
        then q(alpha) and q(theta) = Beta(a + sum_d gamma, b + D - sum_d gamma)."""
        k = lin.shape[1]
        a = jnp.asarray(self.mask(k), dtype=lin.dtype)
        gram = gram * (a[:, None] * a[None, :])
        lin = lin * a
        e_alpha = q["alpha_a"] / q["alpha_b"]
        e_log_th, e_log_1mth = beta_log_moments(q["theta_a"], q["theta_b"])

        def body(j, carry):
            ew, mu, lam, logit = carry
            g_j = gram[:, j, :]
            lam_j = e_alpha[j] + g_j[:, j]
            mu_j = (lin[:, j] - jnp.sum(g_j * ew, axis=1) + g_j[:, j] * ew[:, j]) / lam_j
            logit_j = (e_log_th[j] - e_log_1mth[j] + 0.5 * lam_j * mu_j**2 - 0.5 * jnp.log(lam_j)
                       + 0.5 * jnp.log(e_alpha[j]))
            ew = ew.at[:, j].set(jax.nn.sigmoid(logit_j) * mu_j)
            return ew, mu.at[:, j].set(mu_j), lam.at[:, j].set(lam_j), logit.at[:, j].set(logit_j)

        ew, mu, lam, logit = jax.lax.fori_loop(0, k, body, (q["Ew"], q["W_mu"], q["W_lam"], q["W_logit"]))
        gam = jax.nn.sigmoid(logit)
        var = gam * (mu**2 + 1.0 / lam) - ew**2
        q = {**q, "Ew": ew, "W_mu": mu, "W_lam": lam, "W_logit": logit, "W_v0": 1.0 / e_alpha}
        q["EWW"] = (ew[:, :, None] * ew[:, None, :] + jax.vmap(jnp.diag)(var)) * (a[:, None] * a[None, :])
        # ARD and inclusion probabilities
        m = self._moments(q)
        p, t0 = self.alpha_prior(), self.theta_prior()
        n_features = ew.shape[0]
        s = jnp.sum(gam, axis=0)
        q.update(alpha_a=p.concentration + 0.5 * n_features + 0.0 * q["alpha_a"],
                 alpha_b=p.rate + 0.5 * jnp.sum(gam * m["v1_second"] + (1.0 - gam) * m["v0_second"], axis=0),
                 theta_a=t0.concentration1 + s, theta_b=t0.concentration0 + n_features - s)
        return q

    def effective(self, q: dict):
        return q["Ew"], q["EWW"]

    def _moments(self, q):
        return {"gamma": jax.nn.sigmoid(q["W_logit"]), "v1_second": q["W_mu"] ** 2 + 1.0 / q["W_lam"],
                "v0_second": jnp.broadcast_to(q["W_v0"][None, :], q["W_mu"].shape)}

    def cavi_moments(self, q: dict) -> dict:
        m = self._moments(q)
        m["alpha_mean"], m["alpha_log"] = gamma_moments(q["alpha_a"], q["alpha_b"])
        m["theta_log"], m["theta_log1m"] = beta_log_moments(q["theta_a"], q["theta_b"])
        return m

    def point_moments(self, view: str, values: dict) -> tuple[dict, tuple]:
        s, v = np.asarray(values[f"include_{view}"], dtype=float), np.asarray(values[f"slab_{view}"])
        alpha, theta = np.asarray(values[f"alpha_{view}"]), np.asarray(values[f"theta_{view}"])
        weff = s * v * self.mask(v.shape[1])
        m = {"gamma": s, "v1_second": v**2, "v0_second": v**2, "alpha_mean": alpha, "alpha_log": np.log(alpha),
             "theta_log": np.log(theta), "theta_log1m": np.log1p(-theta)}
        return m, (weff, weff[:, :, None] * weff[:, None, :])

    def cavi_elp(self, m: dict):
        gam = m["gamma"]
        slab = m["theta_log"][None] + normal_precision_elp(m["alpha_mean"][None], m["alpha_log"][None], m["v1_second"])
        spike = m["theta_log1m"][None] + normal_precision_elp(m["alpha_mean"][None], m["alpha_log"][None],
                                                              m["v0_second"])
        return (jnp.sum(gam * slab + (1.0 - gam) * spike)
                + jnp.sum(gamma_elp(self.alpha_prior(), m["alpha_mean"], m["alpha_log"]))
                + jnp.sum(beta_elp(self.theta_prior(), m["theta_log"], m["theta_log1m"])))

    def cavi_entropy(self, q: dict):
        logit = q["W_logit"]
        gam = jax.nn.sigmoid(logit)
        h_slab = 0.5 * (1.0 + 1.8378770664093453 - jnp.log(q["W_lam"]))
        h_spike = 0.5 * (1.0 + 1.8378770664093453 + jnp.log(q["W_v0"]))[None, :]
        h_s = jax.nn.softplus(logit) - gam * logit
        return (jnp.sum(gam * h_slab + (1.0 - gam) * h_spike + h_s)
                + jnp.sum(dist.Gamma(q["alpha_a"], q["alpha_b"]).entropy())
                + jnp.sum(dist.Beta(q["theta_a"], q["theta_b"]).entropy()))

    def cavi_draws(self, view: str, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        k = q["W_mu"].shape[1]
        gam = 1.0 / (1.0 + np.exp(-q["W_logit"]))
        s = rng.random((num_draws,) + gam.shape) < gam[None]
        v = q["W_mu"][None] + rng.standard_normal(s.shape) / np.sqrt(q["W_lam"])[None]
        alpha = rng.gamma(shape=q["alpha_a"], scale=1.0 / q["alpha_b"], size=(num_draws, k))
        theta = rng.beta(q["theta_a"], q["theta_b"], size=(num_draws, k))
        return {f"W_{view}": np.where(s, v, 0.0) * self.mask(k), f"alpha_{view}": alpha, f"theta_{view}": theta}

    def cavi_means(self, view: str, q: dict) -> dict:
        k = q["W_mu"].shape[1]
        out = {f"W_{view}": q["Ew"] * self.mask(k),
               f"W_{view}_var": np.diagonal(q["EWW"], axis1=1, axis2=2) - q["Ew"] ** 2,
               f"alpha_{view}": q["alpha_a"] / q["alpha_b"],
               f"inclusion_{view}": 1.0 / (1.0 + np.exp(-q["W_logit"])),
               f"theta_{view}": q["theta_a"] / (q["theta_a"] + q["theta_b"])}
        return out


# ============================================================================== PPLS response
@dataclass(frozen=True)
class PPLSResponse:
    """Loadings of a PPLS response view (el Bouhaddani et al. 2018, eq. 1): the view loads on the
    response scores U = T B + H through C (D, J) with ``base``'s prior over the J components.

    NumPyro engines: ``ppls_C_<view>`` with ``alpha_<view>`` over the J components, and effective
    loadings ``W_<view>`` = [C diag(B), sigma_h C] on the stacked factors [T, H / sigma_h].
    Closed-form engine: ``base`` over the 2J columns of Z' = [T, U] with activity [0, 1]: W' = [0, C];
    :meth:`to_reported` maps its draws to [C B, sigma_h C]. The ARD precision of C is reported on both
    halves of the factor dim.
    """

    base: ARDLoadings
    n_components: int

    @property
    def engines(self):
        return self.base.engines

    @property
    def activity(self):
        return None

    def conjugate(self) -> ARDLoadings:
        """The loadings prior the closed-form engine fits (base over [T, U], active on U only)."""
        j = self.n_components
        return self.base.with_activity([0] * j + [1] * j)

    def variables(self, view: str) -> tuple[Variable, ...]:
        return self.base.variables(view) + (PPLS_C.bind(view=view), PPLS_C_RAW.bind(view=view))

    def sample(self, view: str, n_features: int, n_factors: int, engine: str, extras: dict,
               name: str | None = None, plate: str = "factor"):
        if engine == "cavi":
            return self.conjugate().sample(view, n_features, n_factors, engine, extras)
        c = self.base.sample(view, n_features, self.n_components, engine, extras, name=f"ppls_C_{view}",
                             plate="component")
        b, sigma_h = extras["relation"]
        return numpyro.deterministic(f"W_{view}", jnp.concatenate([c * b, c * sigma_h], axis=-1))

    def init_values(self, view: str, values: dict, engine: str) -> dict:
        return self.base.init_values(view, values, engine, name=f"ppls_C_{view}")

    def derive(self, view: str, draws: dict, extras: dict) -> dict:
        """SVI guides do not return deterministic sites: W from C, B, sigma_h; ARD of C on both halves."""
        key = f"ppls_C_{view}"
        if key in draws:
            c, b = draws[key], draws["ppls_B"][:, :, None, :]
            sh = draws["ppls_sigma_h"][:, :, None, None]
            if f"W_{view}" not in draws:
                draws[f"W_{view}"] = np.concatenate([c * b, c * sh], axis=-1)
            if draws[f"alpha_{view}"].shape[-1] == c.shape[-1]:
                draws[f"alpha_{view}"] = np.concatenate([draws[f"alpha_{view}"]] * 2, axis=-1)
        return draws

    def to_reported(self, view: str, draws: dict) -> dict:
        """Closed-form draws W' = [0, C] on [T, U] -> W = [C B, sigma_h C] on [T, H / sigma_h]."""
        j = self.n_components
        c = draws[f"W_{view}"][..., j:]
        b = draws["ppls_B"][:, :, None, :]
        sh = draws["ppls_sigma_h"][:, :, None, None]
        alpha = draws[f"alpha_{view}"][..., j:]
        return {**draws, f"W_{view}": np.concatenate([c * b, c * sh], axis=-1),
                f"alpha_{view}": np.concatenate([alpha, alpha], axis=-1)}


# sparsity name -> loadings prior (ModelConfig.sparsity); add a prior here and in its test and doc row
LOADINGS_PRIORS = {"ard": ARDLoadings, "horseshoe": HorseshoeLoadings, "spike_and_slab": SpikeSlabLoadings}
