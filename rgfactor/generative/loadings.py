"""Loadings priors, one per view: ARD, regularised horseshoe, spike-and-slab, and the PPLS response.

* :class:`ARDLoadings` alpha_k ~ Gamma(a, b), w_dk ~ N(0, alpha_k^{-1/2}) (Bishop 1999; Klami et al.
  2015, eq. 3). All engines.
* :class:`HorseshoeLoadings` ARD times regularised-horseshoe local scales (Piironen & Vehtari 2017,
  EJS 11:5018, eq. 2.8). NumPyro engines only (no conjugate update).
* spike-and-slab: :mod:`rgfactor.generative.spike_slab`; the PPLS response: :mod:`rgfactor.generative.ppls`.

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
    gamma_elp,
    gamma_entropy,
    gamma_moments,
    gaussian_entropy,
    mvn_draws,
    normal_precision_elp,
)
from rgfactor.generative.variables import FACTOR_SCALE, HELPER, PLAIN, SCORES, Role, Variable

ALPHA = Variable("alpha_{view}", ("factor",), FACTOR_SCALE, "ARD precision: large = factor inactive in the view")
W = Variable("W_{view}", ("{view}_feature", "factor"), SCORES, "loadings")
C2 = Variable("c2_{view}", (), PLAIN, "horseshoe slab variance")
LAMBDA = Variable("lambda_{view}", ("{view}_feature", "factor"), HELPER | Role.FACTOR, "horseshoe local scales")
# NUTS samples the loadings non-centred; the raw variables are declared so that nothing undeclared reaches
# the posterior layer
W_RAW = Variable("W_{view}_decentered", ("{view}_feature", "factor"), HELPER, "non-centred loadings (NUTS)")
W_COLLAPSED = Variable("W_{view}_collapsed", ("{view}_active_factor", "{view}_feature"), HELPER,
                       "loadings of the active factors, ARD precision integrated out (NUTS)")


class ARDMarginal(dist.Distribution):
    """The ARD prior of one loadings column with its precision integrated out:
    w | alpha ~ N(0, alpha^{-1} I_D), alpha ~ Gamma(a, b)  =>  w ~ t_{2a}(0, (b / a) I_D), with

        log p(w) = lgamma(a + D/2) - lgamma(a) + a log b - (D/2) log(2 pi) - (a + D/2) log(b + |w|^2 / 2).

    A multivariate Student-t with isotropic scale, written out so that its cost is O(D) (NumPyro's
    MultivariateStudentT takes a D x D scale matrix). Batch shape (), event shape (D,).
    """

    arg_constraints = {}
    support = dist.constraints.real_vector
    reparametrized_params = []

    def __init__(self, a: float, b: float, dim: int, *, validate_args=None):
        self.a, self.b, self.dim = a, b, dim
        super().__init__(batch_shape=(), event_shape=(dim,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        alpha = jax.random.gamma(k1, self.a, sample_shape) / self.b
        eps = jax.random.normal(k2, sample_shape + (self.dim,))
        return eps / jnp.sqrt(alpha)[..., None]

    def log_prob(self, value):
        from jax.scipy.special import gammaln

        a, b, d = self.a, self.b, self.dim
        return (gammaln(a + 0.5 * d) - gammaln(a) + a * jnp.log(b) - 0.5 * d * 1.8378770664093453
                - (a + 0.5 * d) * jnp.log(b + 0.5 * jnp.sum(value**2, axis=-1)))


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
        return ALPHA.bind(view=view), W.bind(view=view), W_RAW.bind(view=view), W_COLLAPSED.bind(view=view)

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

        Under NUTS the ARD precisions are integrated out (:class:`ARDMarginal`, one multivariate-t
        column per active factor) and drawn afterwards from their conditional Gamma(a + D/2,
        b + |w_k|^2 / 2) (:meth:`derive`): the same model, without the funnel between a precision
        and its loadings that non-centring removes only for inactive factors (for active ones it
        creates the reverse funnel), and with half as many steps per NUTS transition.
        """
        if engine == "nuts":
            return self._sample_collapsed(view, n_features, n_factors, name or f"W_{view}", plate)
        alpha = self.sample_alpha(view, n_factors, plate)
        scale = jnp.broadcast_to(jax.lax.rsqrt(alpha), (n_features, n_factors))
        return self._sample_w(view, n_features, n_factors, scale, engine, name, plate)

    def _sample_collapsed(self, view, n_features, n_factors, name, plate):
        active = np.flatnonzero(self.mask(n_factors))
        prior = ARDMarginal(self.shape, self.rate, n_features)
        with numpyro.plate(f"{view}_active_{plate}", len(active), dim=-1):
            wt = numpyro.sample(f"{name}_collapsed", prior)
        w = jnp.zeros((n_features, n_factors), dtype=wt.dtype).at[:, active].set(wt.T)
        return numpyro.deterministic(name, w)

    def _sample_w(self, view, n_features, n_factors, scale, engine, name, plate):
        name = name or f"W_{view}"
        rows, cols = _plates(view, n_features, n_factors, plate)
        with numpyro.handlers.reparam(config={name: LocScaleReparam(0.0)} if engine == "nuts" else {}):
            with rows, cols:
                w = numpyro.sample(name, dist.Normal(0.0, scale))
        return w if self.activity is None else w * jnp.asarray(self.mask(n_factors))

    def init_values(self, view: str, values: dict, engine: str, name: str | None = None) -> dict:
        """Initial values of the sampled sites from reported-scale values (NUTS: the active loadings)."""
        name = name or f"W_{view}"
        if engine != "nuts" or name not in values:
            return values
        out = dict(values)
        w = np.asarray(out.pop(name))
        out.pop(f"alpha_{view}", None)
        out[f"{name}_collapsed"] = w[:, np.flatnonzero(self.mask(w.shape[1]))].T
        return out

    def derive(self, view: str, draws: dict, extras: dict, rng=None, name: str | None = None) -> dict:
        """Effective loadings (activity applied); under NUTS the ARD precisions, drawn from their
        conditional given each draw's loadings: alpha_k ~ Gamma(a + D/2, b + |w_k|^2 / 2), and from
        the prior Gamma(a, b) for a factor inactive in the view."""
        name = name or f"W_{view}"
        if name in draws and self.activity is not None:   # in the draws' precision (float32 draws stay float32)
            w = np.asarray(draws[name])
            draws[name] = w * self.mask(w.shape[-1]).astype(w.dtype)
        if f"{name}_collapsed" in draws and f"alpha_{view}" not in draws:
            w = draws[name]
            n_features, k = w.shape[-2:]
            active = self.mask(k) > 0
            shape = np.where(active, self.shape + 0.5 * n_features, self.shape)
            rate = self.rate + 0.5 * np.sum(w**2, axis=-2)
            rng = rng if rng is not None else np.random.default_rng(0)
            draws[f"alpha_{view}"] = rng.gamma(np.broadcast_to(shape, rate.shape), 1.0 / rate)
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
        return {**q, "alpha_a": p.concentration + 0.5 * q["Ew"].shape[0] + 0.0 * q["alpha_a"],
                "alpha_b": p.rate + 0.5 * jnp.sum(self._w_second(q), axis=0)}

    @staticmethod
    def _w_second(q):
        """E[w_dk^2] (D, K) under q(w_d)."""
        return jnp.diagonal(q["W_cov"], axis1=1, axis2=2) + q["Ew"] ** 2

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        """Natural-gradient step (stochastic VI): natural parameters move a fraction ``rho`` towards
        ``target`` (the update computed from a rescaled minibatch): (Sigma^{-1}, Sigma^{-1} mu) of
        q(w_d) and (shape, rate) of q(alpha_k)."""
        q = self._set_w(q, (1.0 - rho) * q["W_prec"] + rho * target["W_prec"],
                        (1.0 - rho) * q["W_lin"] + rho * target["W_lin"])
        return {**q, "alpha_a": (1.0 - rho) * q["alpha_a"] + rho * target["alpha_a"],
                "alpha_b": (1.0 - rho) * q["alpha_b"] + rho * target["alpha_b"]}

    def cavi_scale_stats(self, q: dict):
        """(A_k, C_k): the terms of q(W) that change when every w_dk is divided by r_k, as
        ``-A_k / (2 r_k^2) - C_k log(r_k^2) / 2`` (ARD prior: A_k = E[alpha_k] sum_d E[w_dk^2]; entropy of
        q(w_d): C_k = D), for the closed-form engine's scaling step (:mod:`rgfactor.inference.cavi_scale`)."""
        m = self.cavi_moments(q)
        return m["alpha_mean"] * jnp.sum(m["w_second"], axis=0), jnp.full_like(m["alpha_mean"], q["Ew"].shape[0])

    def cavi_rescale(self, q: dict, scale) -> dict:
        """q(W) of w_dk scale_k (scale (K,) > 0): mean, covariance and natural parameters of each q(w_d);
        q(alpha) is unchanged."""
        outer = scale[:, None] * scale[None, :]
        return {**q, "Ew": q["Ew"] * scale, "W_cov": q["W_cov"] * outer, "EWW": q["EWW"] * outer,
                "W_logdet": q["W_logdet"] + 2.0 * jnp.sum(jnp.log(scale)), "W_prec": q["W_prec"] / outer,
                "W_lin": q["W_lin"] / scale}

    def effective(self, q: dict):
        """(E[W], E[w_d w_d^T]) of the loadings the likelihood sees (activity applied)."""
        k = q["Ew"].shape[1]
        return q["Ew"] * jnp.asarray(self.mask(k)), q["EWW"]

    def cavi_moments(self, q: dict) -> dict:
        e_alpha, e_log_alpha = gamma_moments(q["alpha_a"], q["alpha_b"])
        return {"w_second": self._w_second(q), "alpha_mean": e_alpha, "alpha_log": e_log_alpha}

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
        return jnp.sum(gaussian_entropy(q["W_logdet"], k)) + jnp.sum(gamma_entropy(q["alpha_a"], q["alpha_b"]))

    def cavi_draws(self, view: str, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        k = q["Ew"].shape[1]
        w = mvn_draws(rng, q["Ew"], q["W_cov"], num_draws)
        alpha = rng.gamma(shape=q["alpha_a"], scale=1.0 / q["alpha_b"], size=(num_draws, k))
        return {f"W_{view}": w * self.mask(k).astype(np.float32), f"alpha_{view}": alpha}

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

    def init_values(self, view: str, values: dict, engine: str, name: str | None = None) -> dict:
        """NUTS samples the horseshoe loadings non-centred: W_decentered = W sqrt(alpha)."""
        name = name or f"W_{view}"
        if engine != "nuts" or name not in values:
            return values
        out = dict(values)
        out[f"{name}_decentered"] = np.asarray(out.pop(name)) * np.sqrt(np.asarray(out[f"alpha_{view}"]))
        return out



