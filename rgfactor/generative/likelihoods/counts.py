"""Count and binary views, with their Polya-Gamma conjugate form for the closed-form engine.

* ``bernoulli``: y ~ Bernoulli(logit = eta).
* ``negative_binomial``: mean mu = exp(eta), variance mu + mu^2 / phi (NB2, Hilbe 2011), written as
  NB(total_count = phi, logits = eta - log phi); phi_d = ``dispersion_<view>`` ~ LogNormal(log 5, 1.5)
  (95% prior mass on phi in (0.27, 95)).
* ``poisson``: y ~ Poisson(exp(eta)).

Closed form (Polson, Scott & Windle 2013; Zhou et al. 2012): with psi = eta - log phi, the NB (b = y + phi)
and Bernoulli (b = 1) likelihoods are exp(kappa psi) / (1 + e^psi)^b with kappa = y - b / 2, and
1 / (1 + e^psi)^b = 2^{-b} E_omega[exp(-omega psi^2 / 2)], omega ~ PG(b, 0), so they are conditionally
Gaussian in eta given omega: each entry contributes p = E[omega] and a = kappa + E[omega] log phi.
The NB dispersion is a MAP point estimate (damped Newton on log phi). Its objective's special functions
depend on a count and phi only: sum_n lgamma(y_nd + phi_d) is sum_j m_dj lgamma(u_dj + phi_d) over the
feature's distinct positive counts u_dj (m_dj times each), evaluated so (:func:`.count_table.count_table`) where a
feature has few distinct counts, as RNA-seq and spatial counts at low depth do. A Poisson view is fitted by the
closed-form engine as NB with fixed phi = 100 (the Poisson limit; declared difference).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln

from rgfactor.generative.components import ALL_ENGINES
from rgfactor.generative.conjugate import (digamma_trigamma, lgamma_positive, log_cosh_half, pg_loglik_optimal,
                                           pg_mean)
from rgfactor.generative.likelihoods import count_table
from rgfactor.generative.likelihoods.base import Likelihood, register
from rgfactor.generative.variables import PLAIN, Variable

DISPERSION = Variable("dispersion_{view}", ("{view}_feature",), PLAIN, "NB dispersion (variance mu + mu^2/phi)")
LOG_PHI_BOUNDS = (-6.907755278982137, 9.210340371976184)   # phi in [1e-3, 1e4]
DISPERSION_EVERY = 3        # NB dispersion updated on sweeps 1, 4, 7, ... (skipping keeps the ELBO monotone)
POISSON_DISPERSION = 100.0  # 'poisson' views: NB with this fixed dispersion in the closed-form engine
# NB dispersion starts high (nearly Poisson) so that the factors, not the noise, first explain the
# between-subject variation; the dispersion updates then lower it to the residual overdispersion.
# A method-of-moments start ignores the factors, counts all biological variation as noise, and on the
# 40 TCGA glioma tumours let ARD switch every factor off within 5 sweeps.
INITIAL_DISPERSION = 100.0
class _PolyaGamma(Likelihood):
    """Shared closed-form part: local PG parameters c (subject, feature), coefficients, bound."""

    engines = ALL_ENGINES

    def fixed_log_phi(self):
        """log phi of the PG form when it is not a parameter (None: Bernoulli, no shift)."""
        return None

    def _log_phi(self, q):
        return q["log_phi"] if "log_phi" in q else self.fixed_log_phi()

    def cavi_init(self, y, mask, centre, scale, log_offset):
        """Global q (log phi where it is a parameter; ``gamma_sum`` where phi exists) and c = |E psi|.

        ``gamma_sum`` (features,) = sum_n mask (lgamma(y + phi) - lgamma(phi)) at the current phi, the
        part of the expected log-likelihood that depends on phi only: kept with phi (recomputed when the
        dispersion moves) so that the ELBO does not evaluate 2 lgamma per entry every sweep. It is a
        full-data sum, maintained by the full-batch engine (stochastic VI computes no ELBO).
        """
        q = self._init_global(y.shape[1])
        lp = q.get("log_phi", self.fixed_log_phi())
        shift = 0.0 if lp is None else np.asarray(lp)
        if lp is not None:   # over the distinct (feature, count) pairs: zero counts add nothing
            phi = np.broadcast_to(np.exp(np.asarray(lp, dtype=np.float64)), (y.shape[1],))
            q["gamma_sum"] = count_table.lgamma_sum(y, mask, phi)
        c = np.empty(y.shape)   # |E[eta] - log phi| at the start, filled in place (one (subject, feature) array)
        c[...] = np.asarray(log_offset, dtype=np.float64)[:, None]
        c += np.asarray(centre, dtype=np.float64)[None, :] - shift
        return q, {"c": np.abs(c, out=c)}

    def _init_global(self, n_features: int) -> dict:
        return {}

    def cavi_feature_data(self, y, mask):
        """Count views: the ELBO's constant, the sum over observed entries of log(y!) (one number)."""
        return self._log_factorial_sum(y, mask)

    def _log_factorial_sum(self, y, mask, table: dict | None = None) -> dict:
        if self.data_kind != "count":
            return {}
        ones = np.ones(np.shape(y)[1])   # lgamma(y + 1) - lgamma(1), over the distinct counts
        return {"lgamma_y1_sum": np.asarray(np.sum(count_table.lgamma_sum(y, mask, ones, table)))}

    def _b_kappa(self, y, log_phi):
        if log_phi is None:
            return 1.0, y - 0.5
        phi = jnp.exp(log_phi)[None, :] if jnp.ndim(log_phi) else jnp.exp(log_phi)
        return y + phi, 0.5 * (y - phi)

    def cavi_coefficients(self, q, ql, vd):
        lp = self._log_phi(q)
        b, kappa = self._b_kappa(vd["y"], lp)
        # a = mask (kappa + E[omega] log phi) written as mask kappa + p log phi: E[omega] (a tanh and a division
        # per entry) then has one consumer, p, and XLA computes it inside p's loop instead of materialising it
        p = vd["mask"] * pg_mean(b, ql["c"])
        a = vd["mask"] * kappa
        return p, a if lp is None else a + p * (lp[None, :] if jnp.ndim(lp) else lp)

    def _psi(self, e_eta, lp):
        if lp is None:
            return e_eta
        return e_eta - (lp[None, :] if jnp.ndim(lp) else lp)

    def refresh_c(self, q, e_eta, var_eta):
        return {"c": jnp.sqrt(var_eta + self._psi(e_eta, self._log_phi(q)) ** 2)}

    def cavi_update(self, q, ql, vd, e_eta, var_eta, sweep, scale=1.0):
        return q, self.refresh_c(q, e_eta, var_eta)

    def cavi_local(self, q, ql, vd, e_eta, var_eta):
        """The local parameters only (q(omega) of the subjects in ``vd``)."""
        return self.refresh_c(q, e_eta, var_eta)

    def cavi_blend(self, q, target, rho):
        return q

    def cavi_moments(self, q):
        lp = self._log_phi(q)
        return {} if lp is None else {"log_phi": lp, **({"gamma_sum": q["gamma_sum"]} if "gamma_sum" in q else {})}

    def point_moments(self, view, values, e_eta, vd):
        m = self._point_global(view, values)
        lp = m.get("log_phi", self.fixed_log_phi())
        return m, {"c": np.abs(np.asarray(self._psi(jnp.asarray(e_eta), lp)))}

    def _point_global(self, view, values):
        return {}

    def expected_loglik(self, m, ql, vd, e_eta, var_eta):
        """sum over observed entries of log C(y) + the PG bound (exact at c^2 = E[psi^2], Var = 0), with
        q(omega) optimal for these moments: ``ql["c"]`` = sqrt(var_eta + E[psi]^2), as the sweep has just
        set it (:meth:`refresh_c`) and as a point mass has it (``point_moments``)."""
        y, mask = vd["y"], vd["mask"]
        lp = m.get("log_phi", self.fixed_log_phi())
        b, kappa = self._b_kappa(y, lp)
        e_psi = self._psi(e_eta, lp)
        ll = pg_loglik_optimal(b, kappa, e_psi, ql["c"])
        if lp is None:
            return jnp.sum(mask * ll)
        # vd["lgamma_y1_sum"]: sum over observed entries of log(y!), a constant (cavi_feature_data)
        if "gamma_sum" in m:   # sum_n mask (lgamma(y + phi) - lgamma(phi)), kept with phi (cavi_init)
            return jnp.sum(mask * ll) - vd["lgamma_y1_sum"] + jnp.sum(m["gamma_sum"])
        phi = jnp.exp(lp)[None, :] if jnp.ndim(lp) else jnp.exp(lp)
        return jnp.sum(mask * (ll + gammaln(y + phi) - gammaln(phi))) - vd["lgamma_y1_sum"]

    def cavi_elp(self, m, vd):
        return 0.0

    def cavi_entropy(self, q):
        return 0.0

    def cavi_draws(self, view, q, rng, num_draws):
        return {}

    def cavi_means(self, view, q):
        return {}


# ============================================================================== Bernoulli
class Bernoulli(_PolyaGamma):
    name = "bernoulli"
    link = "logit"
    data_kind = "binary"

    def distribution(self, eta, params):
        return dist.BernoulliLogits(eta)

    def mean(self, eta, params):
        return jax.nn.sigmoid(eta)

    def latent_variance(self, eta, params):
        return jnp.full(jnp.shape(eta), jnp.pi ** 2 / 3.0)


# ============================================================================== negative binomial
def _nb_distribution(eta, phi):
    return dist.NegativeBinomialLogits(total_count=phi, logits=eta - jnp.log(phi))


class NegativeBinomial(_PolyaGamma):
    name = "negative_binomial"
    link = "log"
    data_kind = "count"
    nuisance_variables = (DISPERSION,)

    def dispersion_prior(self):
        return dist.LogNormal(jnp.log(5.0), 1.5)

    def sample_nuisance(self, view, n_features, scale, engine="svi", data=None):
        with numpyro.plate(f"{view}_feature", n_features, dim=-1):
            return {"dispersion": numpyro.sample(f"dispersion_{view}", self.dispersion_prior())}

    def distribution(self, eta, params):
        return _nb_distribution(eta, params["dispersion"])

    def mean(self, eta, params):
        return jnp.exp(eta)

    def latent_variance(self, eta, params):
        return jnp.log1p(jnp.exp(-eta) + 1.0 / params["dispersion"])

    # ------------------------------------------------------------------ closed form
    def _init_global(self, n_features):
        return {"log_phi": np.full(n_features, np.log(INITIAL_DISPERSION))}

    def cavi_feature_data(self, y, mask):
        """The sum of log(y!) and, where it is small (``COUNT_TABLE_FRACTION`` of the entries), the table of
        distinct counts per feature (:func:`.count_table.count_table`), from one table."""
        table = count_table.count_table(y, mask, max_fraction=1.0)
        small = bool(table) and table["count_values"].size <= count_table.COUNT_TABLE_FRACTION * np.size(y)
        return {**self._log_factorial_sum(y, mask, table), **(table if small else {})}

    def _point_global(self, view, values):
        return {"log_phi": np.log(np.asarray(values[f"dispersion_{view}"]))}

    def cavi_update(self, q, ql, vd, e_eta, var_eta, sweep, scale=1.0):
        """Dispersion every DISPERSION_EVERY sweeps (the costliest block), then q(omega)."""
        lp, gamma_sum = jax.lax.cond(sweep % DISPERSION_EVERY == 0,
                                     lambda: self.update_dispersion(vd, q["log_phi"], e_eta, var_eta, scale,
                                                                    with_gamma_sum=True, gamma_sum=q["gamma_sum"]),
                                     lambda: (q["log_phi"], q["gamma_sum"]))
        q = {**q, "log_phi": lp, "gamma_sum": gamma_sum}
        return q, self.refresh_c(q, e_eta, var_eta)

    def cavi_blend(self, q, target, rho):
        """Convex step on the log dispersion (a point estimate); ``gamma_sum`` is left as it is
        (stochastic VI computes no ELBO)."""
        return {**q, "log_phi": (1.0 - rho) * q["log_phi"] + rho * target["log_phi"]}

    def cavi_elp(self, m, vd):
        """log p(phi) at the point estimate: the declared LogNormal prior, read from NumPyro."""
        return jnp.sum(self.dispersion_prior().log_prob(jnp.exp(m["log_phi"])))

    def collapsed(self, y, mask, e_eta, var_eta, log_phi, scale=1.0, table=None):
        """Per-feature ELBO of an NB view as a function of log phi with q(omega) optimal, plus log p(phi)
        (``table``: :func:`.count_table.count_table`'s arrays for the same ``y`` and ``mask``, or None)."""
        gamma_sum, rest = self._collapsed_parts(y, mask, e_eta, var_eta, log_phi, table)
        return scale * (gamma_sum + rest) + self.dispersion_prior().log_prob(jnp.exp(log_phi))

    @staticmethod
    def _lgamma_sum(y, mask, phi, table=None):
        """sum_n mask (lgamma(y + phi) - lgamma(phi)) per feature (``table``: :func:`.count_table.count_table`)."""
        if table is not None:
            feature = table["count_feature"]
            per_pair = lgamma_positive(table["count_values"] + phi[feature]) - lgamma_positive(phi)[feature]
            return count_table.feature_sum(table, per_pair, phi.shape[0])
        return jnp.sum(mask * (lgamma_positive(y + phi[None, :]) - lgamma_positive(phi)[None, :]), axis=0)

    @staticmethod
    def _digamma_sums(y, mask, phi, table=None):
        """(sum_n mask (psi(y + phi) - psi(phi)), sum_n mask (psi'(y + phi) - psi'(phi))) per feature."""
        psi_phi, psi1_phi = digamma_trigamma(phi)
        if table is not None:
            feature = table["count_feature"]
            psi_b, psi1_b = digamma_trigamma(table["count_values"] + phi[feature])
            return (count_table.feature_sum(table, psi_b - psi_phi[feature], phi.shape[0]),
                    count_table.feature_sum(table, psi1_b - psi1_phi[feature], phi.shape[0]))
        psi_b, psi1_b = digamma_trigamma(y + phi[None, :])
        return jnp.sum(mask * (psi_b - psi_phi[None, :]), axis=0), jnp.sum(mask * (psi1_b - psi1_phi[None, :]), axis=0)

    @classmethod
    def _collapsed_parts(cls, y, mask, e_eta, var_eta, log_phi, table=None):
        """(sum_n mask (lgamma(y + phi) - lgamma(phi)), the rest of the collapsed data term), per feature."""
        phi = jnp.exp(log_phi)
        e_psi = e_eta - log_phi[None, :]
        c = jnp.sqrt(var_eta + e_psi * e_psi)
        b = y + phi[None, :]
        rest = jnp.sum(mask * (-b * jnp.log(2.0) + 0.5 * (y - phi[None, :]) * e_psi - b * log_cosh_half(c)), axis=0)
        return cls._lgamma_sum(y, mask, phi, table), rest

    def collapsed_derivatives(self, y, mask, e_eta, var_eta, log_phi, scale=1.0, table=None):
        """First and second derivatives of :meth:`collapsed` in log phi, per feature (closed form).

        With phi = e^l, u = E[eta] - l, c = sqrt(Var + u^2), b = y + phi, T(c) = tanh(c/2) / (2c),
        D1 = sum_n (psi(y+phi) - psi(phi)), D2 = sum_n (psi1(y+phi) - psi1(phi)) (sums over observed entries):
        g'  = phi D1 + sum_n [-phi (log 2 + u/2 + log cosh(c/2)) - (y - phi)/2 + b T u]
        g'' = phi D1 + phi^2 D2 + sum_n [-phi (log 2 + u/2 + log cosh(c/2)) + phi (1/2 + T u) + phi/2
              + phi T u - b T - b u^2 T'(c)/c]
        the LogNormal(m, s) prior of phi adds -1 - (l - m) / s^2 and -1 / s^2. D1 and D2 come from
        ``table`` (:func:`.count_table.count_table`) when given. Checked against autodiff in tests/test_cavi.py.
        """
        phi_d = jnp.exp(log_phi)
        phi = phi_d[None, :]
        u = e_eta - log_phi[None, :]
        c = jnp.sqrt(var_eta + u * u)
        b = y + phi
        small = c < 1e-3
        cs = jnp.where(small, 1.0, c)
        th = jnp.tanh(0.5 * cs)
        t = jnp.where(small, 0.25 - c * c / 48.0, th / (2.0 * cs))
        t1_over_c = jnp.where(small, -1.0 / 24.0, (cs * (1.0 - th * th) - 2.0 * th) / (4.0 * cs**3))
        d1, d2 = self._digamma_sums(y, mask, phi_d, table)
        first = -phi * (jnp.log(2.0) + 0.5 * u + log_cosh_half(c))
        g1 = first - 0.5 * (y - phi) + b * t * u
        g2 = first + phi * (0.5 + t * u) + 0.5 * phi + phi * t * u - b * t - b * u * u * t1_over_c
        prior = self.dispersion_prior()
        sd2 = prior.scale**2
        return (scale * (phi_d * d1 + jnp.sum(mask * g1, axis=0)) - 1.0 - (log_phi - prior.loc) / sd2,
                scale * (phi_d * d1 + phi_d**2 * d2 + jnp.sum(mask * g2, axis=0)) - 1.0 / sd2)

    def update_dispersion(self, vd, log_phi, e_eta, var_eta, scale=1.0, with_gamma_sum=False, gamma_sum=None):
        """Damped Newton step on log phi_d, accepted per feature only if the collapsed ELBO rises.

        Step sizes 1 and 1/2 are tried; a feature with no improving step keeps its value.
        ``scale`` multiplies the data term (N / batch size in stochastic VI). Returns the new log phi
        and, with ``with_gamma_sum``, sum_n mask (lgamma(y + phi) - lgamma(phi)) at it (see :meth:`cavi_init`).
        ``gamma_sum``: that sum at ``log_phi`` when the caller keeps it (the full-batch engine), so that
        the current value's lgamma terms, a pass over every entry, are not computed again. The special
        functions go over the view's table of distinct counts when ``vd`` has one (:func:`.count_table.count_table`).
        """
        y, mask = vd["y"], vd["mask"]
        table = vd if "count_values" in vd else None
        prior = self.dispersion_prior()

        def f(lp, known_gamma=None):   # known_gamma: the lgamma sum at lp, kept by the caller (XLA drops ours)
            gamma_sum, rest = self._collapsed_parts(y, mask, e_eta, var_eta, lp, table)
            gamma_sum = gamma_sum if known_gamma is None else known_gamma
            return scale * (gamma_sum + rest) + prior.log_prob(jnp.exp(lp)), gamma_sum

        g, h = self.collapsed_derivatives(y, mask, e_eta, var_eta, log_phi, scale, table)
        step = jnp.where(h < 0, -g / jnp.where(h < 0, h, -1.0), 0.5 * jnp.sign(g))
        step = jnp.clip(step, -1.0, 1.0)
        f0, best_gamma = f(log_phi, gamma_sum)

        def attempt(t, best, best_gamma, accepted):
            cand = jnp.clip(log_phi + t * step, *LOG_PHI_BOUNDS)
            f_cand, gamma_cand = f(cand)
            ok = (f_cand >= f0) & ~accepted
            return jnp.where(ok, cand, best), jnp.where(ok, gamma_cand, best_gamma), accepted | ok

        found = attempt(1.0, log_phi, best_gamma, jnp.zeros_like(log_phi, dtype=bool))
        # the half step only where a full one failed: its per-entry pass is skipped when none did (most
        # updates on S1; the result is the same either way)
        best, best_gamma, _ = jax.lax.cond(jnp.all(found[2]), lambda: found, lambda: attempt(0.5, *found))
        return (best, best_gamma) if with_gamma_sum else best

    def cavi_draws(self, view, q, rng, num_draws):   # a point estimate, repeated
        return {f"dispersion_{view}": np.broadcast_to(np.exp(q["log_phi"]), (num_draws,) + q["log_phi"].shape).copy()}

    def cavi_means(self, view, q):
        return {f"dispersion_{view}": np.exp(q["log_phi"])}


# ============================================================================== Poisson
class Poisson(_PolyaGamma):
    name = "poisson"
    link = "log"
    data_kind = "count"

    def distribution(self, eta, params):
        return dist.Poisson(jnp.exp(jnp.clip(eta, -30.0, 30.0)))

    def mean(self, eta, params):
        return jnp.exp(eta)

    def latent_variance(self, eta, params):
        return jnp.log1p(jnp.exp(-eta))

    def fixed_log_phi(self):
        return jnp.log(POISSON_DISPERSION)

    def conjugate_observation(self):
        """The closed-form engine fits NB(phi = 100) (see the module docstring)."""
        return _FixedNB()


class _FixedNB(Poisson):
    """NB with the fixed dispersion POISSON_DISPERSION: the Poisson view's conjugate stand-in."""

    def distribution(self, eta, params):
        return _nb_distribution(eta, jnp.asarray(POISSON_DISPERSION))


BERNOULLI = register(Bernoulli())
NEGATIVE_BINOMIAL = register(NegativeBinomial())
POISSON = register(Poisson())
