"""Causal mediation through observed mediators: the features of one or more Gaussian views.

For subject n with exposure x_n and confounders c_n, mediator j (a standardised feature) and outcome:

    m_nj = alpha_j + a_j x_n + Gamma_j . c_n + sigma_j eps_nj,   eps_nj ~ N(0, 1)
    eta^Y_n = b^Y + c' x_n + beta . c_n + sum_j b_j m_nj [+ x_n sum_j d_j m_nj]
    Y_n ~ gaussian | bernoulli | survival(eta^Y_n)

One mediator: the classical single-mediator model (Baron & Kenny 1986; Imai, Keele & Tingley 2010,
Psychol Methods 15:309), a, b ~ N(0, 2.5). Several mediators: high-dimensional mediation with
continuous spike-and-slab priors on both paths (George & McCulloch 1993; as in bama, Song et al.
2020, Biometrics 76:700), independent per path,

    a_j ~ pi_a N(0, 1) + (1 - pi_a) N(0, 0.02^2),   b_j ~ pi_b N(0, 1) + (1 - pi_b) N(0, 0.02^2),
    pi_a, pi_b ~ Beta(1, 1),

with the indicators summed out (so NUTS can sample it). The posterior inclusion probability of
mediator j is P(a_j and b_j both in the slab | data), the posterior mean of its conditional
probability given each draw (Rao-Blackwellised): ``inclusion_<view>``.

The model is not a factor model (no Z): it is its own NumPyro program, fitted by SVI or NUTS, with
the same term and likelihood components as the factor models (intercepts, confounders, the
outcome's likelihood from the registry) and its variables declared once below.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from rgfactor.errors import SpecError
from rgfactor.generative.components import NUMPYRO_ENGINES, NUTS_TARGET_ACCEPT
from rgfactor.generative.likelihoods import get as get_likelihood
from rgfactor.generative.mediation import OUTCOME, Confounders, ExposureTerm, outcome_paths, path_prior
from rgfactor.generative.model import keep_reported
from rgfactor.generative.program import Program
from rgfactor.generative.terms import Intercept
from rgfactor.generative.variables import HELPER, PLAIN, Variable

SLAB_SD = 1.0      # a mediator path of 1 sd per unit exposure (a) or per sd of the mediator (b): large
SPIKE_SD = 0.02    # "absent": 50 times narrower; a continuous spike keeps the posterior NUTS-friendly

MEDIATOR_EFFECT = Variable("mediator_effect_{view}", ("{view}_feature",), PLAIN, "mediator -> outcome path b")
MEDIATOR_INTERACTION = Variable("interaction_{view}", ("{view}_feature",), PLAIN,
                                "exposure x mediator interaction on the outcome (d)")
PATH_INCLUSION = Variable("path_inclusion_{view}", ("path",), PLAIN,
                          "prior inclusion rates (pi_a, pi_b) of the spike-and-slab paths")
INCLUSION = Variable("inclusion_{view}", ("{view}_feature",), PLAIN,
                     "conditional probability that both paths of a mediator are in the slab")
SIGMA = Variable("sigma_{view}", ("{view}_feature",), PLAIN, "mediator noise sd (standardised scale)")
TAU = Variable("tau_{view}", ("{view}_feature",), HELPER, "mediator noise precision (the sampled variable)")


def spike_slab(pi):
    """The two-component prior of a path: slab N(0, SLAB_SD) with weight pi, spike N(0, SPIKE_SD)."""
    probs = jnp.stack([pi, 1.0 - pi], axis=-1)
    return dist.MixtureSameFamily(dist.Categorical(probs=probs), dist.Normal(0.0, jnp.array([SLAB_SD, SPIKE_SD])))


def slab_probability(x, pi):
    """P(slab | x, pi) of a path value under :func:`spike_slab` (NumPy, broadcasting)."""
    from scipy.stats import norm

    slab = pi * norm.pdf(x, 0.0, SLAB_SD)
    return slab / (slab + (1.0 - pi) * norm.pdf(x, 0.0, SPIKE_SD))


@dataclass(frozen=True)
class ObservedMediation:
    """Mediation through the observed (standardised Gaussian) features of ``views``.

    views : tuple of (view name, n_features).  outcome : 'gaussian', 'bernoulli' or 'survival'.
    n_confounders : P.  interaction : exposure x mediator interactions d_j on the outcome.
    sparse : spike-and-slab paths (default: when there is more than one mediator).
    """

    views: tuple[tuple[str, int], ...]
    outcome: str
    n_confounders: int = 0
    interaction: bool = False
    sparse: bool | None = None
    engines = NUMPYRO_ENGINES

    def __post_init__(self):
        if not self.views:
            raise SpecError("observed mediation needs at least one mediator view.")

    @property
    def spike_and_slab(self) -> bool:
        return sum(d for _, d in self.views) > 1 if self.sparse is None else bool(self.sparse)

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.views)

    def _mediator_terms(self):
        return (Intercept(),) + ((Confounders(self.n_confounders),) if self.n_confounders else ())

    def _outcome_terms(self):
        return (Intercept(), ExposureTerm()) + ((Confounders(self.n_confounders),) if self.n_confounders else ())

    def variables(self) -> dict[str, Variable]:
        out = []
        for view, _ in self.views:
            for t in self._mediator_terms():
                out += t.variables(view)
            out += ExposureTerm().variables(view)
            out += [v.bind(view=view) for v in (MEDIATOR_EFFECT, MEDIATOR_INTERACTION, PATH_INCLUSION, INCLUSION,
                                                 SIGMA, TAU)]
            out.append(Variable(f"paths_{view}", (f"{view}_feature", "path"), HELPER, "spike-and-slab (a_j, b_j)"))
        for t in self._outcome_terms():
            out += t.variables(OUTCOME)
        out += get_likelihood(self.outcome).variables(OUTCOME)
        return {v.name: v for v in out}

    # ------------------------------------------------------------------ NumPyro
    def _paths(self, view: str, n_features: int, vd: dict, data: dict):
        """(a, b) (D,) each: Normal paths, or spike-and-slab with the indicators summed out."""
        if not self.spike_and_slab:
            a = ExposureTerm().sample(view, vd, data, "svi")[f"exposure_effect_{view}"]
            with numpyro.plate(f"{view}_feature", n_features, dim=-1):
                b = numpyro.sample(f"mediator_effect_{view}", path_prior())
            return a, b
        with numpyro.plate("path", 2, dim=-1):
            pi = numpyro.sample(f"path_inclusion_{view}", dist.Beta(1.0, 1.0))
        with numpyro.plate(f"{view}_feature", n_features, dim=-2), numpyro.plate("path", 2, dim=-1):
            paths = numpyro.sample(f"paths_{view}", spike_slab(pi))
        return (numpyro.deterministic(f"exposure_effect_{view}", paths[:, 0]),
                numpyro.deterministic(f"mediator_effect_{view}", paths[:, 1]))

    def program(self, engine: str = "svi"):
        """The NumPyro program ``model(data)`` (same for SVI and NUTS); a
        :class:`~rgfactor.generative.program.Program`: equal for equal models."""
        return Program(self, engine)

    def numpyro_model(self, data: dict, engine: str = "svi") -> None:
        """The NumPyro model itself (see :meth:`program`)."""
        gaussian = get_likelihood("gaussian")
        lik = get_likelihood(self.outcome)
        x = data["exposure"]
        eta_med = 0.0
        for view, d in self.views:
            vd = data["views"][view]
            params = {}
            for t in self._mediator_terms():
                params.update(t.sample(view, vd, data, engine))
            a, b = self._paths(view, d, vd, data)
            mean = sum(t.contribution(view, params, data) for t in self._mediator_terms()) + x[:, None] * a
            gaussian.observe(view, mean, gaussian.sample_nuisance(view, d, vd["scale"], engine), vd["y"], vd["mask"])
            m = vd["y"]      # observed mediators (complete cases)
            eta_med = eta_med + m @ b
            if self.interaction:
                with numpyro.plate(f"{view}_feature", d, dim=-1):
                    dd = numpyro.sample(f"interaction_{view}", path_prior())
                eta_med = eta_med + x * (m @ dd)
        od = data["views"][OUTCOME]
        params = {}
        for t in self._outcome_terms():
            params.update(t.sample(OUTCOME, od, data, engine))
        eta = sum(t.contribution(OUTCOME, params, data) for t in self._outcome_terms()) + eta_med[:, None]
        lik.observe(OUTCOME, eta, lik.sample_nuisance(OUTCOME, 1, od["scale"], engine), od["y"], od["mask"])

    @property
    def nuts_target_accept(self) -> float:
        """NUTS's target acceptance probability (:data:`~rgfactor.generative.components.NUTS_TARGET_ACCEPT`:
        no component of this model asks for more); the same interface as :class:`Model`."""
        return NUTS_TARGET_ACCEPT

    @property
    def nuts_dense_mass(self) -> list[tuple[str, ...]]:
        """No dense mass-matrix block: every sampled site diagonal (the interface of :class:`Model`)."""
        return []

    def init_values(self, values: dict, engine: str) -> dict:
        return dict(values)

    def derive(self, draws: dict, rng=None) -> dict:
        """sigma from tau; the spike-and-slab paths' conditional inclusion probabilities."""
        out = dict(draws)
        for view, _ in self.views:
            if f"tau_{view}" in out and f"sigma_{view}" not in out:
                out[f"sigma_{view}"] = 1.0 / np.sqrt(out[f"tau_{view}"])
            if f"paths_{view}" in out:
                p = out[f"paths_{view}"]
                out[f"exposure_effect_{view}"], out[f"mediator_effect_{view}"] = p[..., 0], p[..., 1]
                pi = out[f"path_inclusion_{view}"]
                out[f"inclusion_{view}"] = (slab_probability(p[..., 0], pi[..., None, 0])
                                            * slab_probability(p[..., 1], pi[..., None, 1]))
        return get_likelihood(self.outcome).derive(OUTCOME, out)

    def reported(self, draws: dict) -> dict:
        return keep_reported(self.variables(), draws, "the mediation model")

    # ------------------------------------------------------------------ estimands
    def paths(self, draws: dict, data: dict) -> dict:
        """The mediation paths (see :meth:`rgfactor.generative.mediation.MediationModel.paths`), the
        mediators of all views stacked in view order."""
        base, a, sd, b, d = [], [], [], [], []
        for view, _ in self.views:
            mb = np.asarray(draws[f"intercept_{view}"])[:, None, :]
            if f"confounder_effect_{view}" in draws:
                mb = mb + np.einsum("np,spd->snd", np.asarray(data["confounders"]),
                                    np.asarray(draws[f"confounder_effect_{view}"]))
            else:
                mb = mb + np.zeros((1, np.asarray(data["exposure"]).shape[0], 1))
            base.append(mb)
            a.append(np.asarray(draws[f"exposure_effect_{view}"]))
            sd.append(np.asarray(draws[f"sigma_{view}"]))
            b.append(np.asarray(draws[f"mediator_effect_{view}"]))
            if self.interaction:
                d.append(np.asarray(draws[f"interaction_{view}"]))
        return {"med_base": np.concatenate(base, axis=-1), "a": np.concatenate(a, axis=-1),
                "med_sd": np.concatenate(sd, axis=-1),
                **outcome_paths(get_likelihood(self.outcome), draws, data, np.concatenate(b, axis=-1),
                                np.concatenate(d, axis=-1) if d else None)}
