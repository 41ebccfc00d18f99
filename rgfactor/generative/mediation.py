"""Causal mediation through latent factors: an exposure-dependent factor prior and an outcome view.

Generative process (docs/models/mediation.md), subject n with exposure x_n and confounders c_n:

    z_n ~ N(a x_n + Gamma^T c_n, I_K)                          (ExposureFactors: paths exposure -> factors)
    y^m_nd ~ p_m(eta^m_nd),  eta^m_nd = b^m_d + z_n . w^m_d     (the mediator views, as in GFA)
    eta^Y_n = b^Y + c' x_n + beta^T c_n + z_n . w^Y [+ x_n z_n . d]
    Y_n ~ gaussian | bernoulli | survival(eta^Y_n)             (the outcome, one more view)

The outcome is a one-feature view named ``outcome`` whose loadings row ``W_outcome`` holds the
factor -> outcome paths b (ARD prior) and whose terms are the exposure (direct path c'), the
confounders and optionally the exposure x factor interaction d. The exposure is 0/1 or standardised,
confounders standardised. Every path coefficient indexed by factor (a, Gamma, b, d) is declared
signed and rotatable with Z: flipping or rotating a factor (z -> z R) and those coefficients together
leaves the likelihood unchanged, so alignment moves them with the factor.

Priors: a_k, Gamma_ck, c', beta_c, d_k ~ N(0, 2.5 scale) (weakly informative on standardised
predictors, Gelman et al. 2008, Ann Appl Stat 2:1360); b_k ~ N(0, 1/alpha_k), alpha_k ~ Gamma(1, 1).

Closed form (CAVI): the factor prior is conjugate: q(z_n) gets prior precision I and linear term
E[Theta]^T h_n with h_n = (x_n, c_n), and q(Theta_k) = N(S H^T E[z_k], S), S = (I / 2.5^2 + H^T H)^{-1},
the same S for every factor k (Bayesian linear regression of the factors on the exposure and the
confounders).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.generative.components import ALL_ENGINES, NUMPYRO_ENGINES
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.conjugate import LOG_2PI, batched_gaussian, gaussian_entropy, normal_elp
from rgfactor.generative.factors import Z, _diag
from rgfactor.generative.likelihoods import get as get_likelihood
from rgfactor.generative.loadings import ARDLoadings
from rgfactor.generative.model import Model, ViewModel, describe
from rgfactor.generative.terms import Intercept, LinearEffects, Term, _feature_plate
from rgfactor.generative.variables import FACTOR_COEF, PLAIN, Role, Variable

CONFOUNDER = "confounder"
OUTCOME = "outcome"          # the outcome view's name: W_outcome, intercept_outcome, ...
PATH_SD = 2.5                # prior sd of every regression path, in units of the response's scale
# a factor-indexed path: permuted, sign-flipped and rotated with its factor (z -> z R, a -> a R), and
# not a loading (the sign convention reads the loadings only)
PATHS = FACTOR_COEF | Role.ROTATABLE | Role.PATH

EXPOSURE_EFFECT = Variable("exposure_effect", ("factor",), PATHS, "exposure -> factor mean (path a)")
CONFOUNDER_EFFECT = Variable("confounder_effect", (CONFOUNDER, "factor"), PATHS, "confounder -> factor mean")
VIEW_EXPOSURE = Variable("exposure_effect_{view}", ("{view}_feature",), PLAIN,
                         "exposure effect on a feature (outcome: the direct path c')")
VIEW_CONFOUNDER = Variable("confounder_effect_{view}", (CONFOUNDER, "{view}_feature"), PLAIN,
                           "confounder effect on a feature")
INTERACTION = Variable("interaction_{view}", ("{view}_feature", "factor"), PATHS,
                       "exposure x factor interaction on the outcome (d)")


def path_prior(scale=1.0) -> dist.Normal:
    """N(0, 2.5 scale): the prior of a regression path on standardised predictors."""
    return dist.Normal(0.0, PATH_SD * jnp.asarray(scale))


def exposure_design(data: dict):
    """(n, 1 + P) design h_n = (x_n, c_n) of the factor means."""
    x = data["exposure"][:, None]
    return jnp.concatenate([x, data["confounders"]], axis=1) if "confounders" in data else x


# ============================================================================== factor prior
@dataclass(frozen=True)
class ExposureFactors:
    """z_n ~ N(a x_n + Gamma^T c_n, I): the factors as mediators shifted by the exposure.

    Reported variables: ``Z``, ``exposure_effect`` (factor,), ``confounder_effect`` (confounder,
    factor). The closed-form engine fits q(Theta) = prod_k N(theta_k | m_k, S) over the stacked rows
    Theta = [a; Gamma] (1 + P, K). No natural-gradient step: stochastic VI is not available.
    """

    n_confounders: int = 0
    engines = ALL_ENGINES

    @property
    def n_rows(self) -> int:
        return 1 + self.n_confounders

    def variables(self) -> tuple[Variable, ...]:
        return (Z, EXPOSURE_EFFECT) + ((CONFOUNDER_EFFECT,) if self.n_confounders else ())

    def theta(self, values: dict):
        """Theta = [a; Gamma] (1 + P, K) from reported values."""
        a = jnp.asarray(values["exposure_effect"])[..., None, :]
        if not self.n_confounders:
            return a
        return jnp.concatenate([a, jnp.asarray(values["confounder_effect"])], axis=-2)

    def prior_mean(self, values: dict, data: dict):
        """E[z_n | x_n, c_n] = h_n Theta, (n, K)."""
        return exposure_design(data) @ self.theta(values)

    # ------------------------------------------------------------------ NumPyro
    def sample(self, n_subjects: int, n_factors: int, data: dict, engine: str):
        with numpyro.plate("factor", n_factors, dim=-1):
            a = numpyro.sample("exposure_effect", path_prior())
        values = {"exposure_effect": a}
        if self.n_confounders:
            with numpyro.plate(CONFOUNDER, self.n_confounders, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
                values["confounder_effect"] = numpyro.sample("confounder_effect", path_prior())
        mean = self.prior_mean(values, data)
        with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
            return numpyro.sample("Z", dist.Normal(mean, 1.0)), {}

    def log_density(self, z, data: dict, params: dict | None = None):
        """log p(Z | x, c, a, Gamma) at the path coefficients ``params`` (new subjects)."""
        return jnp.sum(dist.Normal(self.prior_mean(params, data), 1.0).log_prob(z))

    def log_density_derivatives(self, z, data: dict, params: dict | None = None):
        n, k = z.shape
        return self.prior_mean(params, data) - z, jnp.broadcast_to(-jnp.eye(k), (n, k, k))

    def derive(self, draws: dict) -> dict:
        return draws

    def init_values(self, values: dict, engine: str) -> dict:
        return values

    # ------------------------------------------------------------------ closed form
    def cavi_data(self, arrays) -> dict:
        x = np.asarray(arrays.exposure, dtype=np.float64)[:, None]
        h = x if not self.n_confounders else np.concatenate([x, np.asarray(arrays.confounders, np.float64)], axis=1)
        return {"H": h}

    def cavi_init(self, z0: np.ndarray, random_state: int) -> tuple[np.ndarray, dict]:
        q, k = self.n_rows, z0.shape[1]
        return z0, {"theta_m": np.zeros((q, k)), "theta_S": PATH_SD**2 * np.eye(q),
                    "theta_logdet": np.asarray(q * np.log(PATH_SD**2))}

    def cavi_prior(self, q: dict, n_factors: int, data: dict | None = None):
        """(prior precision I, per-subject prior linear term h_n E[Theta] (n, K)) of q(z_n)."""
        return jnp.eye(n_factors), data["H"] @ q["theta_m"]

    def cavi_update(self, q: dict, z_mean, z_second, scale=1.0, data: dict | None = None) -> dict:
        """q(theta_k) = N(S H^T E[z_k], S), S = (I / PATH_SD^2 + H^T H)^{-1}, shared by the factors."""
        h = data["H"]
        prec = jnp.eye(self.n_rows) / PATH_SD**2 + h.T @ h
        mean, cov, logdet = batched_gaussian(prec[None], (h.T @ z_mean).T)
        return {"theta_m": mean.T, "theta_S": cov[0], "theta_logdet": logdet[0]}

    def cavi_moments(self, q: dict) -> dict:
        return {"theta_mean": q["theta_m"], "theta_cov": q["theta_S"]}

    def point_moments(self, values: dict) -> tuple[np.ndarray, dict]:
        theta = np.asarray(self.theta(values))
        return np.asarray(values["Z"]), {"theta_mean": theta, "theta_cov": np.zeros((self.n_rows, self.n_rows))}

    def cavi_elp(self, z_mean, z_second, moments: dict, data: dict | None = None):
        """E[log N(z_n | Theta^T h_n, I)] summed over subjects, plus E[log p(Theta)]."""
        h, m, s = data["H"], moments["theta_mean"], moments["theta_cov"]
        hm = h @ m
        quad = jnp.einsum("nq,qr,nr->n", h, s, h)
        sq = _diag(z_second) - 2.0 * z_mean * hm + hm**2 + quad[:, None]
        theta_second = jnp.diagonal(s)[:, None] + m**2
        return (jnp.sum(-0.5 * LOG_2PI - 0.5 * sq)
                + jnp.sum(normal_elp(path_prior(), m, theta_second)))

    def cavi_entropy(self, q: dict):
        return q["theta_m"].shape[1] * gaussian_entropy(q["theta_logdet"], self.n_rows)

    def cavi_draws(self, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        qr, k = q["theta_m"].shape
        chol = np.linalg.cholesky(np.asarray(q["theta_S"]) + 1e-12 * np.eye(qr))
        theta = np.asarray(q["theta_m"])[None] + np.einsum("qr,srk->sqk", chol, rng.standard_normal((num_draws, qr, k)))
        theta = theta.astype(np.float32)
        out = {"exposure_effect": theta[:, 0, :]}
        if self.n_confounders:
            out["confounder_effect"] = theta[:, 1:, :]
        return out

    def to_reported(self, draws: dict) -> dict:
        return draws


# ============================================================================== outcome terms
@dataclass(frozen=True)
class ExposureTerm(Term):
    """Exposure effect per feature: eta += x_n e_d, e_d ~ N(0, 2.5 scale_d). On the outcome this is
    the direct path c'; on an observed mediator view (without sparsity) the path a_d."""

    coefficient = "exposure_effect_{view}"

    def variables(self, view: str):
        return (VIEW_EXPOSURE.bind(view=view),)

    def prior(self, vd: dict) -> dist.Normal:
        return path_prior(vd["scale"])

    def sample(self, view: str, vd: dict, data: dict, engine: str) -> dict:
        name = self.coefficient.format(view=view)
        with _feature_plate(view, vd["scale"].shape[0]):
            return {name: numpyro.sample(name, self.prior(vd))}

    def contribution(self, view: str, params: dict, data: dict):
        return data["exposure"][:, None] * params[self.coefficient.format(view=view)][None, :]

    def n_columns(self, arrays) -> int:
        return 1

    def design(self, arrays) -> np.ndarray:
        return np.asarray(arrays.exposure, dtype=np.float64)[:, None]

    def cavi_prior(self, q: dict, vd: dict):
        p = self.prior(vd)
        return jnp.zeros((1, p.scale.shape[0])), (1.0 / p.scale**2)[None, :]

    def point_moments(self, view: str, values: dict):
        return np.asarray(values[self.coefficient.format(view=view)])[None, :], {}

    def cavi_elp(self, mean, second, m: dict, vd: dict):
        return jnp.sum(normal_elp(self.prior(vd), mean[0], second[0]))

    def cavi_draws(self, view, theta, q, rng, num_draws) -> dict:
        return {self.coefficient.format(view=view): theta[:, 0, :]}


@dataclass(frozen=True)
class Confounders(LinearEffects):
    """Confounder effects per feature: eta += c_n . g_d, g_cd ~ N(0, 2.5 scale_d), H = C."""

    n_confounders: int
    coefficient = "confounder_effect_{view}"
    variable = VIEW_CONFOUNDER
    plate = CONFOUNDER
    data_key = "confounders"

    @property
    def n_effects(self) -> int:
        return self.n_confounders

    def prior(self, vd: dict) -> dist.Normal:
        return path_prior(vd["scale"])


@dataclass(frozen=True)
class ExposureFactorInteraction(Term):
    """Exposure x factor interaction on a view: eta_nd += x_n z_n . d_d, d_dk ~ N(0, 2.5 scale_d)
    (NumPyro engines: the term is bilinear in z and d, which the closed-form sweep does not cover)."""

    n_factors: int
    coefficient = "interaction_{view}"
    engines = NUMPYRO_ENGINES
    uses_factors = True

    def variables(self, view: str):
        return (INTERACTION.bind(view=view),)

    def sample(self, view: str, vd: dict, data: dict, engine: str) -> dict:
        name = self.coefficient.format(view=view)
        scale = vd["scale"][:, None]
        with numpyro.plate(f"{view}_interaction_row", scale.shape[0], dim=-2), \
                numpyro.plate("factor", self.n_factors, dim=-1):
            return {name: numpyro.sample(name, path_prior(scale))}

    def contribution(self, view: str, params: dict, data: dict):
        return 0.0   # the part that needs the factors: factor_contribution

    def factor_contribution(self, view: str, params: dict, data: dict, z):
        return data["exposure"][:, None] * (z @ params[self.coefficient.format(view=view)].T)


# ============================================================================== the model
@dataclass(frozen=True)
class MediationModel(Model):
    """A factor model with an :class:`ExposureFactors` prior and an outcome view; the linear predictor
    adds the terms that need the factors (the exposure x factor interaction)."""

    def linear_predictor(self, view: str, params: dict, data: dict, z):
        eta = super().linear_predictor(view, params, data, z)
        for term in self.view(view).terms:
            if getattr(term, "uses_factors", False):
                eta = eta + term.factor_contribution(view, params, data, z)
        return eta

    @property
    def outcome(self) -> ViewModel | None:
        return next((v for v in self.views if v.name == OUTCOME), None)

    def paths(self, draws: dict, data: dict) -> dict:
        """The mediation paths of draws (leading axis: draws) in the form the estimands read
        (:func:`rgfactor.posterior.mediation.mediation_effects`): mediator means without the exposure
        ``med_base`` (S, n, K), ``a`` (S, K), mediator noise sd ``med_sd`` (S, K), outcome baseline
        ``out_base`` (S, n), direct path ``direct`` (S,), ``b`` (S, K), interaction ``d`` (S, K) or
        None, the outcome likelihood's nuisance ``nuisance`` ({name: (S,)})."""
        k = self.n_factors
        a = np.asarray(draws["exposure_effect"])
        s, n = a.shape[0], np.asarray(data["exposure"]).shape[0]
        med_base = np.zeros((s, n, k))
        if "confounder_effect" in draws:
            med_base = np.einsum("np,spk->snk", np.asarray(data["confounders"]), np.asarray(draws["confounder_effect"]))
        d = draws.get(f"interaction_{OUTCOME}")
        return {"med_base": med_base, "a": a, "med_sd": np.ones((s, k)),
                **outcome_paths(self.outcome.likelihood, draws, data, np.asarray(draws[f"W_{OUTCOME}"])[:, 0, :],
                                None if d is None else np.asarray(d)[:, 0, :])}


def outcome_paths(likelihood, draws: dict, data: dict, b, d) -> dict:
    """The outcome part of :meth:`MediationModel.paths` (shared with observed mediators): baseline
    eta without exposure and mediators, direct path, mediator paths ``b`` (S, K) and interaction
    ``d`` (S, K) or None, nuisance."""
    c = np.asarray(draws[f"exposure_effect_{OUTCOME}"])[:, 0]
    base = np.asarray(draws[f"intercept_{OUTCOME}"])[:, :1] + np.zeros((c.shape[0], np.asarray(data["exposure"]).shape[0]))
    if f"confounder_effect_{OUTCOME}" in draws:
        base = base + np.einsum("np,sp->sn", np.asarray(data["confounders"]),
                                np.asarray(draws[f"confounder_effect_{OUTCOME}"])[:, :, 0])
    nuisance = {k: np.asarray(v)[:, 0] for k, v in likelihood.params(OUTCOME, draws).items()}
    return {"out_base": base, "direct": c, "b": np.asarray(b), "d": d, "nuisance": nuisance,
            "outcome": likelihood.name}


@dataclass(frozen=True)
class MediationConfig:
    """Static settings of a mediation model through latent factors.

    base : the mediator views' factor model (views, n_factors, loadings prior, site effects, covariates).
    outcome : 'gaussian', 'bernoulli' or 'survival'.  n_confounders : P.
    interaction : include the exposure x factor interaction d on the outcome.
    """

    base: ModelConfig
    outcome: str
    n_confounders: int = 0
    interaction: bool = False


@lru_cache(maxsize=32)
def describe_mediation(config: MediationConfig, with_outcome: bool = True) -> MediationModel:
    """The mediation model of ``config``: the base factor model's views with the factor prior
    replaced by :class:`ExposureFactors`, plus the outcome view (``with_outcome=False``: the factor
    part alone, for a closed-form start)."""
    base = describe(config.base)
    views = list(base.views)
    if with_outcome:
        terms = [Intercept(), ExposureTerm()]
        if config.n_confounders:
            terms.append(Confounders(config.n_confounders))
        if config.interaction:
            terms.append(ExposureFactorInteraction(config.base.n_factors))
        loadings = ARDLoadings(config.base.ard_shape, config.base.ard_rate)
        views.append(ViewModel(OUTCOME, get_likelihood(config.outcome), 1, loadings, tuple(terms)))
    return MediationModel(ExposureFactors(config.n_confounders), tuple(views), config.base.n_factors)
