"""Terms of a view's linear predictor besides the factors: eta = sum_t H_t theta_t + Z W^T + log offset.

Each term has a design H_t (subject, Q_t) read from the data and coefficients theta_t (Q_t, feature)
with a Gaussian prior per feature (a hierarchical precision where the term has one):

* :class:`Intercept` b_d ~ N(centre_d, 2.5 scale_d), H = 1.
* :class:`SiteLocation` site random intercepts u_{s,d} (Hox 2010; the in-model alternative to
  ComBat's location step), H = one-hot site; NumPyro engines: u = sd_d r, sd_d ~ HalfNormal(scale_d),
  r ~ N(0, 1) (non-centred, Papaspiliopoulos et al. 2007); closed-form engine: u ~ N(0, gamma_d^{-1/2}),
  gamma_d ~ Gamma(1, rate scale_d^2) (E[site sd] ~ scale_d; declared difference). A subject with site
  code -1 (a site unseen in training) gets no site effect.
* :class:`Covariates` beta_{c,d} ~ N(0, scale_d) on standardised covariates, H = X.

The closed-form engine fits the coefficients of all terms of a view jointly, q(theta_d) Gaussian
over the stacked Q = sum_t Q_t rows, each term contributing its prior block.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.generative.components import ALL_ENGINES
from rgfactor.generative.conjugate import gamma_elp, gamma_entropy, gamma_moments, normal_elp, normal_precision_elp
from rgfactor.generative.variables import HELPER, PLAIN, Variable

INTERCEPT = Variable("intercept_{view}", ("{view}_feature",), PLAIN, "per-feature intercept (link scale)")
SITE_SD = Variable("site_sd_{view}", ("{view}_feature",), PLAIN, "sd of the site intercepts of a feature")
SITE_RAW = Variable("site_raw_{view}", ("site", "{view}_feature"), HELPER, "non-centred site intercepts")
SITE_EFFECT = Variable("site_effect_{view}", ("site", "{view}_feature"), PLAIN, "site intercept")
SITE_PRECISION = Variable("site_precision_{view}", ("{view}_feature",), HELPER,
                          "closed-form engine: precision of the site intercepts")
BETA = Variable("beta_{view}", ("covariate", "{view}_feature"), PLAIN, "covariate effect")
INTERCEPT_SD = 2.5   # intercept_d ~ N(centre_d, (2.5 scale_d)^2): weakly informative around the empirical centre


def _feature_plate(view, n_features):
    return numpyro.plate(f"{view}_feature", n_features, dim=-1)


class Term:
    """Defaults of a term with a fixed prior (no hyperparameters): nothing to derive or update."""

    engines = ALL_ENGINES
    baseline = False

    def derive(self, view, draws):
        return draws

    def cavi_init(self, vd: dict) -> dict:
        return {}

    def cavi_update(self, q: dict, mean, second, vd: dict) -> dict:
        return q

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        return q

    def cavi_moments(self, q: dict) -> dict:
        return {}

    def cavi_entropy(self, q: dict):
        return 0.0


@dataclass(frozen=True)
class Intercept(Term):
    """Per-feature intercept, prior centred on the feature's empirical link-scale centre."""

    coefficient = "intercept_{view}"
    baseline = True   # a per-feature constant: not part of the variance a factor can explain

    def variables(self, view: str):
        return (INTERCEPT.bind(view=view),)

    def prior(self, vd: dict) -> dist.Normal:
        return dist.Normal(vd["centre"], INTERCEPT_SD * vd["scale"])

    def sample(self, view: str, vd: dict, data: dict, engine: str) -> dict:
        with _feature_plate(view, vd["centre"].shape[0]):
            return {f"intercept_{view}": numpyro.sample(f"intercept_{view}", self.prior(vd))}

    def contribution(self, view: str, params: dict, data: dict):
        return params[f"intercept_{view}"]

    # ------------------------------------------------------------------ closed form
    def n_columns(self, arrays) -> int:
        return 1

    def design(self, arrays) -> np.ndarray:
        return np.ones((arrays.n_subjects, 1))

    def cavi_prior(self, q: dict, vd: dict):
        """(prior mean (Q_t, D), prior precision (Q_t, D)) of the term's rows of q(theta_d)."""
        p = self.prior(vd)
        return p.loc[None, :], (1.0 / p.scale**2)[None, :]


    def point_moments(self, view: str, values: dict):
        return np.asarray(values[f"intercept_{view}"])[None, :], {}

    def cavi_elp(self, mean, second, m: dict, vd: dict):
        return jnp.sum(normal_elp(self.prior(vd), mean[0], second[0]))

    def cavi_draws(self, view, theta, q, rng, num_draws) -> dict:
        return {f"intercept_{view}": theta[:, 0, :]}


@dataclass(frozen=True)
class SiteLocation(Term):
    """Site random intercepts per (site, feature), shrunk to 0 across sites."""

    n_sites: int
    coefficient = "site_effect_{view}"

    def variables(self, view: str):
        return tuple(v.bind(view=view) for v in (SITE_SD, SITE_RAW, SITE_EFFECT, SITE_PRECISION))

    def sd_prior(self, vd):
        return dist.HalfNormal(vd["scale"])

    def precision_prior(self, vd):
        """Conjugate-engine prior of 1 / site_sd^2."""
        return dist.Gamma(1.0, vd["scale"] ** 2)

    def sample(self, view: str, vd: dict, data: dict, engine: str) -> dict:
        n_features = vd["centre"].shape[0]
        if engine == "cavi":
            with _feature_plate(view, n_features):
                prec = numpyro.sample(f"site_precision_{view}", self.precision_prior(vd))
            with numpyro.plate("site", self.n_sites, dim=-2), _feature_plate(view, n_features):
                eff = numpyro.sample(f"site_effect_{view}", dist.Normal(0.0, 1.0 / jnp.sqrt(prec)))
            return {f"site_effect_{view}": eff}
        with _feature_plate(view, n_features):
            sd = numpyro.sample(f"site_sd_{view}", self.sd_prior(vd))
        with numpyro.plate("site", self.n_sites, dim=-2), _feature_plate(view, n_features):
            raw = numpyro.sample(f"site_raw_{view}", dist.Normal(0.0, 1.0))
        return {f"site_effect_{view}": numpyro.deterministic(f"site_effect_{view}", raw * sd)}

    def contribution(self, view: str, params: dict, data: dict):
        site = data["site"]
        eff = params[f"site_effect_{view}"][jnp.clip(site, 0, None)]
        return jnp.where((site >= 0)[:, None], eff, 0.0)

    def derive(self, view, draws):
        raw = f"site_raw_{view}"
        if raw in draws and f"site_effect_{view}" not in draws:
            draws[f"site_effect_{view}"] = draws[raw] * draws[f"site_sd_{view}"][:, :, None, :]
        return draws

    # ------------------------------------------------------------------ closed form
    def n_columns(self, arrays) -> int:
        return self.n_sites

    def design(self, arrays) -> np.ndarray:
        site = np.asarray(arrays.site)
        return (site[:, None] == np.arange(self.n_sites)[None, :]).astype(np.float64)

    def cavi_init(self, vd: dict) -> dict:
        p = self.precision_prior(vd)
        d = vd["centre"].shape[0]
        return {"g_a": np.broadcast_to(np.asarray(p.concentration), (d,)).copy(), "g_b": 0.1 * np.asarray(p.rate)}

    def cavi_prior(self, q: dict, vd: dict):
        e_g = q["g_a"] / q["g_b"]
        d = e_g.shape[0]
        return jnp.zeros((self.n_sites, d)), jnp.broadcast_to(e_g[None, :], (self.n_sites, d))

    def cavi_update(self, q: dict, mean, second, vd: dict) -> dict:
        """q(gamma_d) = Gamma(a0 + S/2, b0 + sum_s E[u_sd^2] / 2)."""
        p = self.precision_prior(vd)
        return {"g_a": p.concentration + 0.5 * self.n_sites + 0.0 * q["g_a"],
                "g_b": p.rate + 0.5 * jnp.sum(second, axis=0)}

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        """Natural-gradient step on (shape, rate) of q(gamma_d)."""
        return {k: (1.0 - rho) * q[k] + rho * target[k] for k in ("g_a", "g_b")}

    def cavi_moments(self, q: dict) -> dict:
        e, e_log = gamma_moments(q["g_a"], q["g_b"])
        return {"prec_mean": e, "prec_log": e_log}

    def point_moments(self, view: str, values: dict):
        prec = np.asarray(values[f"site_precision_{view}"])
        return np.asarray(values[f"site_effect_{view}"]), {"prec_mean": prec, "prec_log": np.log(prec)}

    def cavi_elp(self, mean, second, m: dict, vd: dict):
        return (jnp.sum(normal_precision_elp(m["prec_mean"][None], m["prec_log"][None], second))
                + jnp.sum(gamma_elp(self.precision_prior(vd), m["prec_mean"], m["prec_log"])))

    def cavi_entropy(self, q: dict):
        return jnp.sum(gamma_entropy(q["g_a"], q["g_b"]))

    def cavi_draws(self, view, theta, q, rng, num_draws) -> dict:
        g = rng.gamma(shape=q["g_a"], scale=1.0 / q["g_b"], size=(num_draws,) + q["g_a"].shape)
        return {f"site_effect_{view}": theta, f"site_sd_{view}": 1.0 / np.sqrt(g)}


class LinearEffects(Term):
    """Fixed effects of a block of subject-level columns on every feature of a view:
    eta_nd += x_n . b_d, b_cd ~ prior(vd); in the closed-form engine part of the view's joint Gaussian
    over its term coefficients. Subclasses set ``coefficient``, ``variable`` (its declaration),
    ``plate`` (the columns' dim), ``data_key`` (the model-data entry and ModelArrays attribute holding
    the columns), ``n_effects`` and ``prior``."""

    variable: Variable
    plate: str
    data_key: str

    @property
    def n_effects(self) -> int:
        raise NotImplementedError

    def prior(self, vd: dict) -> dist.Normal:
        raise NotImplementedError

    def variables(self, view: str):
        return (self.variable.bind(view=view),)

    def sample(self, view: str, vd: dict, data: dict, engine: str) -> dict:
        name = self.coefficient.format(view=view)
        with numpyro.plate(self.plate, self.n_effects, dim=-2), _feature_plate(view, vd["scale"].shape[0]):
            return {name: numpyro.sample(name, self.prior(vd))}

    def contribution(self, view: str, params: dict, data: dict):
        return data[self.data_key] @ params[self.coefficient.format(view=view)]

    # ------------------------------------------------------------------ closed form
    def n_columns(self, arrays) -> int:
        return self.n_effects

    def design(self, arrays) -> np.ndarray:
        return np.asarray(getattr(arrays, self.data_key), dtype=np.float64)

    def cavi_prior(self, q: dict, vd: dict):
        p = self.prior(vd)
        d = p.scale.shape[0]
        return jnp.zeros((self.n_effects, d)), jnp.broadcast_to((1.0 / p.scale**2)[None, :], (self.n_effects, d))

    def point_moments(self, view: str, values: dict):
        return np.asarray(values[self.coefficient.format(view=view)]), {}

    def cavi_elp(self, mean, second, m: dict, vd: dict):
        return jnp.sum(normal_elp(self.prior(vd), mean, second))

    def cavi_draws(self, view, theta, q, rng, num_draws) -> dict:
        return {self.coefficient.format(view=view): theta}


@dataclass(frozen=True)
class Covariates(LinearEffects):
    """Fixed covariate effects on standardised covariates."""

    n_covariates: int
    coefficient = "beta_{view}"
    variable = BETA
    plate = "covariate"
    data_key = "covariates"

    @property
    def n_effects(self) -> int:
        return self.n_covariates

    def prior(self, vd):
        return dist.Normal(0.0, vd["scale"])
