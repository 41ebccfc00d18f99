"""The spatially varying coefficient (SVC) model: HSGP coefficient surfaces, a subject random
intercept and a likelihood from the registry.

    eta_i = log offset_i + sum_j x_ij beta_j(s_i) + u_{g(i)},     y_i ~ p(y | eta_i, nuisance)

(Gelfand et al. 2003, JASA 98:387, the Bayesian SVC model; beta_j(s) of :mod:`rgfactor.generative.hsgp`;
u_g ~ N(0, subject_sd^2) for units nested in subjects, subject_sd ~ Exponential with
P(subject_sd > U) = 0.05). The likelihood's nuisance variables are those of a one-feature view named
``response`` (``sigma_response``, ``dispersion_response``).

One model, two NumPyro programs (:meth:`SVCModel.program`):

* ``collapsed`` (Gaussian likelihood): the mean coefficients, basis weights and subject intercepts
  enter the linear predictor linearly with Gaussian priors given the hyperparameters, so they are
  integrated out exactly: y ~ N(Psi m0, sigma^2 I + Psi Lambda Psi^T), Psi = [x_j, x_j phic_k, 1{g}]
  (Rasmussen & Williams 2006, eq. 2.30 with Woodbury's identity). NUTS then samples only the
  amplitudes, lengthscales, subject sd and noise: no funnel whatever the data say, and a cost per step
  of O(M^3) in the number of columns M, independent of the number of units once Psi^T Psi is formed.
  :meth:`SVCModel.derive` draws the integrated-out variables from their exact Gaussian conditional
  given each posterior draw of the hyperparameters, so the draws are from the same joint posterior.
* ``full`` (every likelihood): the non-centred program of :class:`HSGPSurfaces.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.data.spatial import SpatialArrays
from rgfactor.generative.hsgp import HSGPSurfaces
from rgfactor.generative.likelihoods import Likelihood
from rgfactor.generative.likelihoods.gaussian import Gaussian
from rgfactor.generative.program import Program
from rgfactor.generative.variables import HELPER, PLAIN, Variable

RESPONSE = "response"
SUBJECT_SD = Variable("subject_sd", (), PLAIN, "sd of the subject random intercepts (link scale)")
SUBJECT_EFFECT = Variable("subject_effect", ("subject",), PLAIN, "subject random intercept (link scale)")
SUBJECT_Z = Variable("subject_z", ("subject",), HELPER, "non-centred subject intercepts, N(0, 1)")
MAX_COLLAPSED_COLUMNS = 1500   # beyond this the O(M^3) collapsed step costs more than the full program


@dataclass(frozen=True)
class SubjectIntercept:
    """u_g = subject_sd * z_g, z_g ~ N(0, 1); subject_sd ~ Exponential(rate) (PC prior)."""

    n_subjects: int
    sd_rate: float

    def variables(self) -> tuple[Variable, ...]:
        return (SUBJECT_SD, SUBJECT_EFFECT, SUBJECT_Z)

    def sample_sd(self):
        return numpyro.sample("subject_sd", dist.Exponential(self.sd_rate))

    def sample(self):
        sd = self.sample_sd()
        with numpyro.plate("subject", self.n_subjects):
            z = numpyro.sample("subject_z", dist.Normal(0.0, 1.0))
        return sd * z


def gaussian_marginal(gram, xty, yty, n_obs, sd, s2):
    """log N(y | Psi m0, s2 I + Psi diag(sd^2) Psi^T) from Psi^T Psi, Psi^T (y - Psi m0) and |y - Psi m0|^2.

    With U = Psi diag(sd), B = s2 I_M + U^T U: y'Sigma^-1 y = (|y|^2 - c'B^-1 c) / s2, c = U^T y, and
    log|Sigma| = (n - M) log s2 + log|B| (Woodbury; Rasmussen & Williams 2006, A.9-A.10). Zero entries
    of ``sd`` (spectral density underflow) are allowed.
    """
    m = gram.shape[0]
    chol = jnp.linalg.cholesky(s2 * jnp.eye(m) + sd[:, None] * gram * sd[None, :])
    a = jax.scipy.linalg.solve_triangular(chol, sd * xty, lower=True)
    quad = (yty - a @ a) / s2
    logdet = (n_obs - m) * jnp.log(s2) + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return -0.5 * (quad + logdet + n_obs * jnp.log(2.0 * jnp.pi))


def gaussian_conditional(gram, xty, sd, s2, noise):
    """A draw of the integrated-out coefficients theta = m0 + sd * v given the hyperparameters:
    v | y ~ N(B^-1 c, s2 B^-1) with B, c as in :func:`gaussian_marginal`; ``noise`` (M,) standard normal.
    Returns theta - m0."""
    m = gram.shape[0]
    chol = jnp.linalg.cholesky(s2 * jnp.eye(m) + sd[:, None] * gram * sd[None, :])
    mean = jax.scipy.linalg.cho_solve((chol, True), sd * xty)
    dev = jax.scipy.linalg.solve_triangular(chol.T, noise, lower=False)
    return sd * (mean + jnp.sqrt(s2) * dev)


@dataclass(frozen=True)
class SVCModel:
    """The SVC model description (hashable, static).

    Attributes
    ----------
    surfaces : :class:`HSGPSurfaces`.  likelihood : a registered :class:`Likelihood`.
    subjects : :class:`SubjectIntercept` or None.  response_scale : scale the likelihood's nuisance
    prior is set from (sd of y for Gaussian).  collapsed : fit the Gaussian model with the
    coefficients integrated out (see the module docstring).
    """

    surfaces: HSGPSurfaces
    likelihood: Likelihood
    subjects: SubjectIntercept | None = None
    response_scale: float = 1.0
    collapsed: bool = False

    @classmethod
    def can_collapse(cls, likelihood: Likelihood, n_columns: int) -> bool:
        return isinstance(likelihood, Gaussian) and n_columns <= MAX_COLLAPSED_COLUMNS

    def variables(self) -> dict[str, Variable]:
        """Every declared variable, by name."""
        out = list(self.surfaces.variables()) + list(self.likelihood.variables(RESPONSE))
        if self.subjects is not None:
            out += list(self.subjects.variables())
        return {v.name: v for v in out}

    @property
    def n_terms(self) -> int:
        return self.surfaces.n_terms

    def n_columns(self) -> int:
        """Columns of Psi: J means, J * size basis weights, one per subject."""
        n_sub = 0 if self.subjects is None else self.subjects.n_subjects
        return self.n_terms * (1 + self.surfaces.basis.size) + n_sub

    # ------------------------------------------------------------------ data
    def model_data(self, arrays: SpatialArrays, dtype=jnp.float64) -> dict:
        """Pytree the programs take: design, centred basis, response (NaN -> 0 with a mask), offset,
        subject codes and, for the collapsed program, Psi^T Psi, Psi^T y', |y'|^2 and n_obs."""
        mask = arrays.mask
        phi = np.asarray(self.surfaces.basis.phi(arrays.coords), dtype=np.float64)
        out = {"design": jnp.asarray(arrays.design, dtype), "phi": jnp.asarray(phi, dtype),
               "y": jnp.asarray(np.where(mask, arrays.y, 0.0), dtype), "mask": jnp.asarray(mask),
               "offset": jnp.asarray(arrays.offset, dtype),
               "group": jnp.asarray(arrays.group if arrays.group is not None else np.zeros(len(mask), np.int32))}
        if self.collapsed:
            psi = self.columns(arrays.design, phi, arrays.group)[mask]
            yc = (arrays.y - arrays.offset - arrays.design @ np.asarray(self.surfaces.mean_loc))[mask]
            out.update(gram=jnp.asarray(psi.T @ psi, dtype), xty=jnp.asarray(psi.T @ yc, dtype),
                       yty=jnp.asarray(yc @ yc, dtype), n_obs=float(mask.sum()))
        return out

    def columns(self, design, phi, group) -> np.ndarray:
        """Psi (n, M): [x_j | x_j * phic_k (term-major) | subject indicators]."""
        n, j = design.shape
        blocks = [design, (design[:, :, None] * phi[:, None, :]).reshape(n, -1)]
        if self.subjects is not None:
            blocks.append((group[:, None] == np.arange(self.subjects.n_subjects)[None, :]).astype(float))
        return np.concatenate(blocks, axis=1)

    def column_sd(self, amplitude, lengthscale, subject_sd=None):
        """(M,) prior sd of the columns of Psi given the hyperparameters."""
        s = self.surfaces
        parts = [jnp.asarray(s.mean_scale), s.weight_sd(amplitude, lengthscale).reshape(-1)]
        if self.subjects is not None:
            parts.append(jnp.full((self.subjects.n_subjects,), subject_sd))
        return jnp.concatenate(parts)

    # ------------------------------------------------------------------ NumPyro
    def program(self):
        """The NumPyro model ``model(data)``: collapsed or full (see the module docstring); a
        :class:`~rgfactor.generative.program.Program`: equal for equal models."""
        return Program(self)

    def numpyro_model(self, data: dict, engine: str = "svi") -> None:
        """The NumPyro model itself (the same for every engine; see :meth:`program`)."""
        return self._collapsed(data) if self.collapsed else self._full(data)

    def _nuisance(self):
        params = self.likelihood.sample_nuisance(RESPONSE, 1, jnp.asarray([self.response_scale]), "nuts")
        return {k: v[..., 0] for k, v in params.items()}

    def _collapsed(self, data: dict) -> None:
        amp, ls = self.surfaces.sample_hyper()
        sub_sd = self.subjects.sample_sd() if self.subjects is not None else None
        sigma = self._nuisance()["sigma"]
        sd = self.column_sd(amp, ls, sub_sd)
        numpyro.factor("y_response_marginal", gaussian_marginal(data["gram"], data["xty"], data["yty"],
                                                                 data["n_obs"], sd, sigma**2))

    def linear_predictor(self, data: dict, beta_mean, gp_weight, subject_effect=None):
        eta = data["offset"] + HSGPSurfaces.contribution(beta_mean, gp_weight, data["design"], data["phi"])
        if subject_effect is not None:
            eta = eta + subject_effect[data["group"]]
        return eta

    def _full(self, data: dict) -> None:
        mean, weight = self.surfaces.sample()
        sub = self.subjects.sample() if self.subjects is not None else None
        params = self._nuisance()
        eta = self.linear_predictor(data, mean, weight, sub)
        with numpyro.plate("unit", eta.shape[0]):
            numpyro.sample("y_response", self.likelihood.distribution(eta, params).mask(data["mask"]), obs=data["y"])

    # ------------------------------------------------------------------ draws
    def derive(self, draws: dict, data: dict, rng: np.random.Generator) -> dict:
        """Reported variables from the sampled ones: the integrated-out coefficients drawn from their
        conditional (collapsed), gp_weight = sd * gp_z, subject_effect = sd * z (full), the surfaces
        ``beta`` (chain, draw, unit, term), ``spatial_sd`` and the likelihood's derived nuisance.
        ``draws``: name -> (chain, draw, ...); ``rng`` seeds the conditional draws."""
        out = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
        shape = out["amplitude"].shape[:2]
        flat = {k: jnp.asarray(v.reshape((-1,) + v.shape[2:])) for k, v in out.items()}
        s = self.surfaces
        if self.collapsed:
            m = self.n_columns()
            noise = jnp.asarray(rng.standard_normal((flat["amplitude"].shape[0], m)))

            def one(amp, ls, sub_sd, tau, e):
                sd = self.column_sd(amp, ls, sub_sd)
                return gaussian_conditional(data["gram"], data["xty"], sd, 1.0 / tau, e)

            sub_sd = flat.get("subject_sd", jnp.zeros(noise.shape[0]))
            theta = np.asarray(jax.lax.map(lambda a: one(*a), (flat["amplitude"], flat["lengthscale"], sub_sd,
                                                               flat["tau_response"][:, 0], noise), batch_size=64))
            j, k = s.n_terms, s.basis.size
            out["beta_mean"] = (theta[:, :j] + np.asarray(s.mean_loc)).reshape(shape + (j,))
            out["gp_weight"] = theta[:, j:j + j * k].reshape(shape + (j, k))
            if self.subjects is not None:
                out["subject_effect"] = theta[:, j + j * k:].reshape(shape + (-1,))
        else:
            sd = np.asarray(s.weight_sd(flat["amplitude"], flat["lengthscale"]))
            out["gp_weight"] = (sd * np.asarray(flat["gp_z"])).reshape(out["gp_z"].shape)
            if self.subjects is not None:
                out["subject_effect"] = out["subject_sd"][..., None] * out["subject_z"]
        out["beta"] = np.asarray(HSGPSurfaces.surfaces(jnp.asarray(out["beta_mean"]), jnp.asarray(out["gp_weight"]),
                                                       data["phi"]))
        out["spatial_sd"] = out["beta"].std(axis=-2)
        return self.likelihood.derive(RESPONSE, out)

    def reported(self, draws: dict) -> dict:
        declared = self.variables()
        return {k: v for k, v in draws.items() if k in declared and declared[k].reported}
