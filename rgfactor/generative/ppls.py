"""PPLS components (el Bouhaddani, Uh, Hayward, Jongbloed & Houwing-Duistermaat 2018, J Multivar
Anal 163:141, eq. 1): the inner relation as a factor prior, and the loadings of the response views.

Predictor scores t_n ~ N(0, I_J), response scores u_n = t_n B + h_n, h_n ~ N(0, sigma_h^2 I), B diagonal
~ N(0, 1); predictor views load on T, response views on U. See docs/models/ppls.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.generative.components import ALL_ENGINES
from rgfactor.generative.conjugate import gamma_elp, gamma_entropy, gamma_moments, normal_elp
from rgfactor.generative.factors import Z, IidNormalFactors, _diag
from rgfactor.generative.loadings import ARDLoadings
from rgfactor.generative.variables import HELPER, PLAIN, Variable

B = Variable("ppls_B", ("component",), HELPER, "PPLS inner-relation coefficients (diagonal of B)")
SIGMA_H = Variable("ppls_sigma_h", (), PLAIN, "PPLS residual sd of the response scores")
TAU_H = Variable("ppls_tau_h", (), HELPER, "closed-form engine: precision 1/sigma_h^2")


@dataclass(frozen=True)
class PPLSFactors:
    """PPLS scores. NumPyro engines: Z = [T, H / sigma_h] ~ N(0, I_2J) (non-centred), response views
    load on it through W = [C B, sigma_h C] (:class:`~rgfactor.generative.loadings.PPLSResponse`).

    Closed-form engine (the conjugate, centred form of the same model): Z' = [T, U] with
    t_n ~ N(0, I), u_n | t_n ~ N(t_n B, tau_h^{-1} I), B_j ~ N(0, 1), tau_h ~ Gamma(2, 1) (in place of
    sigma_h ~ HalfNormal(1), which has no conjugate update; both have E[sigma_h^2] = 1); response
    views load on the U columns only. Draws are mapped back to [T, H / sigma_h] (:meth:`to_reported`).
    """

    n_components: int
    engines = ALL_ENGINES

    def variables(self) -> tuple[Variable, ...]:
        return (Z, B, SIGMA_H)

    def b_prior(self):
        return dist.Normal(0.0, 1.0)

    def sigma_h_prior(self):
        return dist.HalfNormal(1.0)

    def tau_h_prior(self):
        """Conjugate-engine prior of 1 / sigma_h^2 (declared difference, see the class docstring)."""
        return dist.Gamma(2.0, 1.0)

    # ------------------------------------------------------------------ NumPyro
    def sample(self, n_subjects: int, n_factors: int, data: dict, engine: str):
        j = self.n_components
        if engine != "cavi":
            with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
                z = numpyro.sample("Z", dist.Normal(0.0, 1.0))
            with numpyro.plate("component", j, dim=-1):
                b = numpyro.sample("ppls_B", self.b_prior())
            sigma_h = numpyro.sample("ppls_sigma_h", self.sigma_h_prior())
            return z, {"relation": (b, sigma_h)}
        with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("component", j, dim=-1):
            t = numpyro.sample("ppls_T", dist.Normal(0.0, 1.0))
        with numpyro.plate("component", j, dim=-1):
            b = numpyro.sample("ppls_B", self.b_prior())
        tau = numpyro.sample("ppls_tau_h", self.tau_h_prior())
        with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("component", j, dim=-1):
            u = numpyro.sample("ppls_U", dist.Normal(t * b, 1.0 / jnp.sqrt(tau)))
        return numpyro.deterministic("Z", jnp.concatenate([t, u], axis=-1)), {}

    def log_density(self, z, data: dict, params: dict | None = None):
        return jnp.sum(dist.Normal(0.0, 1.0).log_prob(z))

    def log_density_derivatives(self, z, data: dict, params: dict | None = None):
        """Z = [T, H / sigma_h] ~ N(0, I) in the reported parameterisation."""
        return IidNormalFactors().log_density_derivatives(z, data)

    def derive(self, draws: dict) -> dict:
        return draws

    def init_values(self, values: dict, engine: str) -> dict:
        return values

    # ------------------------------------------------------------------ closed form
    def cavi_init(self, z0: np.ndarray, random_state: int) -> tuple[np.ndarray, dict]:
        """T from the first J PCA scores, U = T (B = 1) plus a little noise, sigma_h = 0.5."""
        j = self.n_components
        rng = np.random.default_rng(random_state)
        t = z0[:, :j]
        u = t + 0.1 * rng.standard_normal(t.shape)
        q = {"B_m": np.ones(j), "B_v": np.full(j, 0.1), "tau_a": np.asarray(4.0), "tau_b": np.asarray(1.0)}
        return np.concatenate([t, u], axis=1), q

    def _moments(self, q):
        e_tau, e_log_tau = gamma_moments(q["tau_a"], q["tau_b"])
        return {"B_mean": q["B_m"], "B_second": q["B_v"] + q["B_m"] ** 2, "tau_mean": e_tau, "tau_log": e_log_tau}

    def cavi_prior(self, q: dict, n_factors: int, data: dict | None = None):
        j = self.n_components
        m = self._moments(q)
        top = jnp.diag(1.0 + m["tau_mean"] * m["B_second"])
        off = jnp.diag(-m["tau_mean"] * m["B_mean"])
        prec = jnp.block([[top, off], [off, m["tau_mean"] * jnp.eye(j)]])
        return prec, None

    def _residual_second(self, z_mean, z_second, m):
        """Sum over subjects of E[(u_nj - B_j t_nj)^2], per component j."""
        j = self.n_components
        d = _diag(z_second)
        tt, uu = d[:, :j], d[:, j:]
        tu = jnp.diagonal(z_second[:, :j, j:], axis1=-2, axis2=-1)
        return jnp.sum(uu - 2.0 * m["B_mean"] * tu + m["B_second"] * tt, axis=0)

    def cavi_update(self, q: dict, z_mean, z_second, scale=1.0, data: dict | None = None) -> dict:
        """q(B_j) Gaussian, then q(tau_h) Gamma: exact coordinate updates given q(Z) (``scale``
        multiplies the sums over subjects: N / batch size in stochastic VI)."""
        j = self.n_components
        n = scale * z_mean.shape[0]
        d = _diag(z_second)
        tt = scale * jnp.sum(d[:, :j], axis=0)
        tu = scale * jnp.sum(jnp.diagonal(z_second[:, :j, j:], axis1=-2, axis2=-1), axis=0)
        e_tau = q["tau_a"] / q["tau_b"]
        p0 = self.b_prior()
        prec = 1.0 / p0.scale**2 + e_tau * tt
        b_v = 1.0 / prec
        b_m = b_v * (p0.loc / p0.scale**2 + e_tau * tu)
        q = {**q, "B_m": b_m, "B_v": b_v}
        m = self._moments(q)
        t0 = self.tau_h_prior()
        q["tau_a"] = t0.concentration + 0.5 * n * j + 0.0 * q["tau_a"]
        q["tau_b"] = t0.rate + 0.5 * scale * jnp.sum(self._residual_second(z_mean, z_second, m))
        return q

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        """Natural-gradient step: (1/v, m/v) of q(B_j) and (shape, rate) of q(tau_h)."""
        prec = (1.0 - rho) / q["B_v"] + rho / target["B_v"]
        lin = (1.0 - rho) * q["B_m"] / q["B_v"] + rho * target["B_m"] / target["B_v"]
        return {"B_m": lin / prec, "B_v": 1.0 / prec, "tau_a": (1.0 - rho) * q["tau_a"] + rho * target["tau_a"],
                "tau_b": (1.0 - rho) * q["tau_b"] + rho * target["tau_b"]}

    def cavi_moments(self, q: dict) -> dict:
        return self._moments(q)

    def point_moments(self, values: dict) -> tuple[np.ndarray, dict]:
        t, u = np.asarray(values["ppls_T"]), np.asarray(values["ppls_U"])
        b, tau = np.asarray(values["ppls_B"]), np.asarray(values["ppls_tau_h"])
        return np.concatenate([t, u], axis=1), {"B_mean": b, "B_second": b**2, "tau_mean": tau,
                                                 "tau_log": np.log(tau)}

    def cavi_data(self, arrays) -> dict:
        return {}

    def cavi_elp(self, z_mean, z_second, m: dict, data: dict | None = None):
        j = self.n_components
        n = z_mean.shape[0]
        d = _diag(z_second)
        out = jnp.sum(normal_elp(dist.Normal(0.0, 1.0), z_mean[:, :j], d[:, :j]))
        out += 0.5 * n * j * (m["tau_log"] - 1.8378770664093453)
        out -= 0.5 * m["tau_mean"] * jnp.sum(self._residual_second(z_mean, z_second, m))
        out += jnp.sum(normal_elp(self.b_prior(), m["B_mean"], m["B_second"]))
        return out + gamma_elp(self.tau_h_prior(), m["tau_mean"], m["tau_log"])

    def cavi_entropy(self, q: dict):
        return (jnp.sum(dist.Normal(q["B_m"], jnp.sqrt(q["B_v"])).entropy())
                + gamma_entropy(q["tau_a"], q["tau_b"]))

    def cavi_draws(self, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        b = q["B_m"][None] + np.sqrt(q["B_v"])[None] * rng.standard_normal((num_draws, self.n_components))
        tau = rng.gamma(q["tau_a"], 1.0 / q["tau_b"], size=num_draws)
        return {"ppls_B": b, "ppls_sigma_h": 1.0 / np.sqrt(tau)}

    def to_reported(self, draws: dict) -> dict:
        """Z' = [T, U] -> Z = [T, (U - T B) / sigma_h], per draw (chain, draw leading)."""
        j = self.n_components
        z = draws["Z"]
        t, u = z[..., :j], z[..., j:]
        b = draws["ppls_B"][:, :, None, :]
        sh = draws["ppls_sigma_h"][:, :, None, None]
        return {**draws, "Z": np.concatenate([t, (u - t * b) / sh], axis=-1)}



PPLS_C = Variable("ppls_C_{view}", ("{view}_feature", "component"), HELPER, "PPLS response loadings C")
PPLS_C_RAW = Variable("ppls_C_{view}_decentered", ("{view}_feature", "component"), HELPER,
                      "non-centred PPLS response loadings (NUTS)")
PPLS_C_COLLAPSED = Variable("ppls_C_{view}_collapsed", ("{view}_active_factor", "{view}_feature"), HELPER,
                            "PPLS response loadings, ARD precision integrated out (NUTS)")


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
        return self.base.variables(view) + (PPLS_C.bind(view=view), PPLS_C_RAW.bind(view=view),
                                            PPLS_C_COLLAPSED.bind(view=view))

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

    def derive(self, view: str, draws: dict, extras: dict, rng=None) -> dict:
        """SVI guides do not return deterministic sites: W from C, B, sigma_h; ARD of C on both halves."""
        key = f"ppls_C_{view}"
        draws = self.base.derive(view, draws, extras, rng, name=key)
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
