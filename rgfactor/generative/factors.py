"""Factor priors: the distribution of the latent factors ``Z`` (subject, factor).

* :class:`IidNormalFactors` z_n ~ N(0, I_K) (Klami et al. 2015, eq. 1): GFA and PCCA.
* the PPLS inner relation: :class:`rgfactor.generative.ppls.PPLSFactors`.

The engines need the factor prior in three ways: as a NumPyro block, as the prior precision and mean
of the closed-form factor update q(z_n) (plus updates of its own global variables), and as a log
density for new subjects (:mod:`rgfactor.inference.newsubjects`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.generative.components import ALL_ENGINES
from rgfactor.generative.conjugate import normal_elp
from rgfactor.generative.variables import SCORES, Variable

Z = Variable("Z", ("subject", "factor"), SCORES, "latent factors")


def _diag(second):
    return jnp.diagonal(second, axis1=-2, axis2=-1)


@dataclass(frozen=True)
class IidNormalFactors:
    """z_nk ~ Normal(0, 1), independent over subjects and factors."""

    engines = ALL_ENGINES

    def variables(self) -> tuple[Variable, ...]:
        return (Z,)

    def prior(self) -> dist.Distribution:
        return dist.Normal(0.0, 1.0)

    # ------------------------------------------------------------------ NumPyro
    def sample(self, n_subjects: int, n_factors: int, data: dict, engine: str):
        """Sample ``Z`` (n_subjects, n_factors); returns (Z, extras for the views: {})."""
        with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
            return numpyro.sample("Z", self.prior()), {}

    def log_density(self, z, data: dict, params: dict | None = None):
        """log p(Z) of factors in the reported parameterisation (new subjects; ``params``: the posterior
        means of the globals, for priors that have any)."""
        return jnp.sum(self.prior().log_prob(z))

    def log_density_derivatives(self, z, data: dict, params: dict | None = None):
        """Gradient (n, K) and Hessian blocks (n, K, K) of :meth:`log_density` in z."""
        p = self.prior()
        n, k = z.shape
        return -(z - p.loc) / p.scale**2, jnp.broadcast_to(-jnp.eye(k) / p.scale**2, (n, k, k))

    def derive(self, draws: dict) -> dict:
        return draws

    def init_values(self, values: dict, engine: str) -> dict:
        return values

    # ------------------------------------------------------------------ closed form
    def cavi_init(self, z0: np.ndarray, random_state: int) -> tuple[np.ndarray, dict]:
        return z0, {}

    def cavi_prior(self, q: dict, n_factors: int, data: dict | None = None):
        """(prior precision (K, K) shared by subjects, prior linear term (n, K) or None) of q(z_n);
        ``data``: the prior's own arrays (:meth:`cavi_data`)."""
        p = self.prior()
        return jnp.eye(n_factors) / p.scale**2, None

    def cavi_update(self, q: dict, z_mean, z_second, scale=1.0, data: dict | None = None) -> dict:
        return q

    def cavi_translation(self, q: dict, n_factors: int):
        """Prior precision (K, K) of z_n, declaring that the prior is a zero-mean Gaussian shared by all
        subjects with no global variables, so that the closed-form engine may translate the factors into
        the intercepts (:mod:`rgfactor.inference.cavi_translate`). Factor priors without it are not
        translated."""
        return self.cavi_prior(q, n_factors)[0]

    def cavi_scaling(self, q: dict, n_factors: int):
        """Diagonal prior precision (K,) of z_n, declaring that the prior is a zero-mean Gaussian with diagonal
        precision shared by all subjects and no global variables, so that the closed-form engine may move
        each factor's scale between Z and the loadings (:mod:`rgfactor.inference.cavi_scale`). Factor priors
        without it are not rescaled."""
        return jnp.diagonal(self.cavi_prior(q, n_factors)[0])

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        return q

    def cavi_moments(self, q: dict) -> dict:
        return {}

    def point_moments(self, values: dict) -> tuple[np.ndarray, dict]:
        """(Z in the engine's parameterisation, global moments) at a point mass ``values``."""
        return np.asarray(values["Z"]), {}

    def cavi_data(self, arrays) -> dict:
        """Arrays of the prior itself for the closed-form engine (subject-indexed; none here)."""
        return {}

    def cavi_elp(self, z_mean, z_second, moments: dict, data: dict | None = None):
        return jnp.sum(normal_elp(self.prior(), z_mean, _diag(z_second)))

    def cavi_entropy(self, q: dict):
        return 0.0

    def cavi_draws(self, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        return {}

    def to_reported(self, draws: dict) -> dict:
        """Map draws of the closed-form engine's parameterisation to the reported one (identity)."""
        return draws
