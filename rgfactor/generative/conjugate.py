"""Conjugate building blocks shared by the components' closed-form (CAVI) updates.

Two kinds of functions, all elementwise or batched over leading axes, pure JAX:

* expected log densities ``E_q[log p(x)]`` of a *declared* NumPyro prior ``p`` from the moments of
  ``q`` (``normal_elp``, ``gamma_elp``, ...): the closed-form engine never copies a prior's
  parameters, it reads them from the distribution object the NumPyro block samples from. At a
  point mass (second moment = mean^2, E[log x] = log x) each equals ``p.log_prob(x)``, which
  ``tests/test_components.py`` checks for every component;
* Polya-Gamma moments and the augmented likelihood bound (Polson, Scott & Windle 2013), batched
  Gaussian solves, and a cheap digamma/trigamma for Newton directions.

Entropies of q come from NumPyro (``dist.Normal(m, s).entropy()``, ...), except the Gamma's and the
Beta's (:func:`gamma_entropy`, :func:`beta_entropy`: NumPyro's formulas with the special functions below).

Compile time: every ``lgamma``/``digamma`` of XLA expands into a few dozen operations (a series, a
reflection branch) that XLA:CPU compiles as about ten separate kernels per call, and a sweep's compilation
is most of what a user waits for in a fresh process (S1 with a negative binomial view: 124 of the sweep's
349 kernels came from the 13 digamma/lgamma calls on q's Gamma and Beta parameters). So the
log-normalisers of the *declared* priors, whose parameters are constants, are evaluated by SciPy when the
sweep is traced (:func:`_gammaln_of_prior`), and every other log-Gamma and digamma of the closed-form
engine is :func:`lgamma_positive` / :func:`digamma_trigamma`: a recurrence and an asymptotic series,
elementwise arithmetic that fuses into the kernel of its caller, as accurate as XLA's (< 1e-14 against
SciPy at ``ACCURATE_SHIFT``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.special
from jax.scipy.linalg import solve_triangular

LOG_2PI = 1.8378770664093453


def mvn_draws(rng: np.random.Generator, mean, cov, num_draws: int, chunk_values: int = 2**24) -> np.ndarray:
    """Draws (num_draws, B, K), float32, from independent N(mean[b], cov[b]); mean (B, K), cov (B, K, K) (NumPy).

    float32: posterior draws are summaries' input, not arithmetic's. x[s, b] = mean[b] + L_b eps[s, b] with
    L_b the Cholesky factor, as one batched product per b (BLAS; NumPy's ``einsum`` of the same took 3-5x
    as long: 31-51 against 8-9 ms for 2,000 x 200 draws of K = 10). Filled a few draws at a time (about
    ``chunk_values`` values), so that the standard normals and the product exist for a chunk only, not as two
    more arrays of the output's size (a cohort of 100,000 subjects: 1.6 GB each); the generator yields the
    same numbers as drawing all at once.
    """
    mean, cov = np.asarray(mean), np.asarray(cov)
    k = mean.shape[-1]
    chol_t = np.ascontiguousarray(np.linalg.cholesky(cov + 1e-12 * np.eye(k)).astype(np.float32).transpose(0, 2, 1))
    mean32 = mean.astype(np.float32)
    out = np.empty((num_draws,) + mean.shape, dtype=np.float32)
    step = max(1, chunk_values // max(mean.size, 1))
    for a in range(0, num_draws, step):
        eps = rng.standard_normal((min(step, num_draws - a),) + mean.shape, dtype=np.float32)
        np.add(mean32[None], np.matmul(eps.transpose(1, 0, 2), chol_t).transpose(1, 0, 2), out=out[a:a + step])
    return out


# ----------------------------------------------------------------------------- expected log priors
def normal_elp(prior: dist.Normal, mean, second):
    """E[log N(x | loc, scale)] for E[x] = ``mean``, E[x^2] = ``second``."""
    loc, var = prior.loc, prior.scale**2
    return -0.5 * (LOG_2PI + jnp.log(var)) - 0.5 * (second - 2.0 * loc * mean + loc**2) / var


def normal_precision_elp(mean_precision, mean_log_precision, second):
    """E[log N(x | 0, lambda^{-1/2})] for a random precision lambda (ARD, hierarchical effects)."""
    return 0.5 * (mean_log_precision - LOG_2PI) - 0.5 * mean_precision * second


def _gammaln_of_prior(x):
    """log Gamma(x) of a prior's parameter: a constant computed by SciPy at trace time when ``x`` is
    concrete (a declared prior's number), :func:`lgamma_accurate` when it is traced."""
    if isinstance(x, jax.core.Tracer):
        return lgamma_accurate(x)
    return scipy.special.gammaln(np.asarray(x, dtype=float))


def gamma_elp(prior: dist.Gamma, mean, mean_log):
    """E[log Gamma(x | concentration a, rate b)] for E[x] = ``mean``, E[log x] = ``mean_log``."""
    a, b = prior.concentration, prior.rate
    log_norm = jnp.asarray(_gammaln_of_prior(a), dtype=jnp.result_type(mean))
    return a * jnp.log(b) - log_norm + (a - 1.0) * mean_log - b * mean


def beta_elp(prior: dist.Beta, mean_log, mean_log1m):
    """E[log Beta(x | a, b)] for E[log x], E[log(1 - x)]."""
    a, b = prior.concentration1, prior.concentration0
    log_beta = _gammaln_of_prior(a) + _gammaln_of_prior(b) - _gammaln_of_prior(a + b)
    return (a - 1.0) * mean_log + (b - 1.0) * mean_log1m - jnp.asarray(log_beta, dtype=jnp.result_type(mean_log))


def _beta_special(a, b, fn):
    """``fn`` at a, b and a + b in one call (one expansion of the special function in the program)."""
    out = fn(jnp.stack([a, b, a + b]))
    return out[0], out[1], out[2]


def beta_entropy(a, b):
    """Entropy of Beta(a, b), elementwise: log B(a, b) - (a - 1) psi(a) - (b - 1) psi(b) + (a + b - 2) psi(a + b)
    (the formula of ``numpyro.distributions.Beta.entropy``, with the log-Beta as three log-Gammas: the
    arguments here are at most 1 + the number of features, where that is exact to float64 round-off)."""
    la, lb, lab = _beta_special(a, b, lgamma_accurate)
    pa, pb, pab = _beta_special(a, b, digamma_positive)
    return la + lb - lab - (a - 1.0) * pa - (b - 1.0) * pb + (a + b - 2.0) * pab


def lognormal_logpdf(prior: dist.LogNormal, x):
    """log LogNormal(x | loc, scale) for a point value (the NB dispersion's point estimate)."""
    return prior.log_prob(x)


def gamma_moments(a, b):
    """(E[x], E[log x]) for x ~ Gamma(a, rate b)."""
    return a / b, digamma_positive(a) - jnp.log(b)


def gamma_entropy(a, b):
    """Entropy of Gamma(a, rate b), elementwise: a - log b + log Gamma(a) + (1 - a) psi(a) (the formula of
    ``numpyro.distributions.Gamma.entropy``)."""
    return a - jnp.log(b) + lgamma_accurate(a) + (1.0 - a) * digamma_positive(a)


def beta_log_moments(a, b):
    """(E[log x], E[log(1 - x)]) for x ~ Beta(a, b)."""
    pa, pb, total = _beta_special(a, b, digamma_positive)
    return pa - total, pb - total


# ----------------------------------------------------------------------------- Polya-Gamma
def log_cosh_half(c):
    """log cosh(c / 2) = |c|/2 + log((1 + e^-|c|) / 2), stable for large |c| (absolute error ~1e-16;
    ``log`` rather than ``log1p``, which XLA evaluates about 3x slower on CPU)."""
    c = jnp.abs(c)
    return 0.5 * c + jnp.log(0.5 + 0.5 * jnp.exp(-c))


def pg_mean(b, c):
    """E[omega] for omega ~ PG(b, c) (Polson, Scott & Windle 2013, JASA 108:1339, sec. 3.1).

    E[omega] = b / (2c) tanh(c / 2), with the limit b / 4 (1 - c^2 / 12) near c = 0.
    """
    c = jnp.abs(c)
    small = c < 1e-4
    safe_c = jnp.where(small, 1.0, c)
    return jnp.where(small, b * (0.25 - c * c / 48.0), b / (2.0 * safe_c) * jnp.tanh(0.5 * safe_c))


def pg_loglik_optimal(b, kappa, e_psi, c):
    """:func:`pg_loglik_bound` at the optimal q(omega), c = sqrt(E[psi^2]), where its E[omega] (E[psi^2] - c^2)
    term is zero: -b log 2 + kappa E[psi] - b log cosh(c/2) (no Polya-Gamma mean to evaluate per entry)."""
    return -b * jnp.log(2.0) + kappa * e_psi - b * log_cosh_half(c)


def pg_loglik_bound(b, kappa, e_psi, e_psi2, c):
    """Expected augmented log-likelihood E_q[log p(y, omega | psi)] - E_q[log q(omega)].

    For p(y, omega | psi) = 2^{-b} exp(kappa psi) exp(-omega psi^2 / 2) PG(omega | b, 0) and
    q(omega) = PG(b, c), this is -b log 2 + kappa E[psi] - E[omega] (E[psi^2] - c^2) / 2 - b log cosh(c/2).
    It is a lower bound on E_q[log(e^{psi y'} / (1 + e^psi)^b)], tight when c^2 = E[psi^2]
    (the Jaakkola-Jordan bound). Elementwise; the caller masks and sums.
    """
    return pg_loglik_optimal(b, kappa, e_psi, c) - 0.5 * pg_mean(b, c) * (e_psi2 - c * c)


# ----------------------------------------------------------------------------- Gaussian blocks
def batched_gaussian(precision, linear):
    """Mean and covariance of N(P^{-1} h, P^{-1}) for a batch of precisions.

    Parameters
    ----------
    precision : (..., K, K) symmetric positive definite.
    linear : (..., K).

    Returns
    -------
    mean (..., K), covariance (..., K, K), log-determinant of the covariance (...).
    """
    if precision.shape[-1] == 1:   # scalar blocks (a view whose only term is the intercept): no factorisation
        var = 1.0 / precision
        return var[..., 0] * linear, var, -jnp.log(precision[..., 0, 0])
    chol = jnp.linalg.cholesky(precision)
    eye = jnp.broadcast_to(jnp.eye(precision.shape[-1], dtype=precision.dtype), precision.shape)
    linv = solve_triangular(chol, eye, lower=True)
    cov = jnp.swapaxes(linv, -1, -2) @ linv
    mean = jnp.einsum("...kl,...l->...k", cov, linear)
    logdet = -2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return mean, cov, logdet


def gaussian_entropy(logdet_cov, dim: int):
    """Entropy of a dim-variate Gaussian from the log-determinant of its covariance."""
    return 0.5 * (logdet_cov + dim * (1.0 + LOG_2PI))


def masked_block(gram, lin, active):
    """Restrict the Gaussian natural parameters of a (..., K) block to its active coordinates.

    Inactive coordinates get an identity precision row and zero linear term (the caller adds
    their prior precision), so they are decoupled from the active ones.
    """
    a = jnp.asarray(active, dtype=gram.dtype)
    gram = gram * a[:, None] * a[None, :]
    return gram, lin * a


def _shift_product(x, shift: int):
    """P(x) = prod_{i < shift} (x + i) and its first two derivatives in x (Horner-like recurrence)."""
    p, p1, p2 = jnp.ones_like(x), jnp.zeros_like(x), jnp.zeros_like(x)
    for i in range(shift):
        xi = x + i
        p2 = p2 * xi + 2.0 * p1
        p1 = p1 * xi + p
        p = p * xi
    return p, p1, p2


# Asymptotic series at z = x + shift (Abramowitz & Stegun 6.1.41, 6.3.18, 6.4.12): Bernoulli numbers
# B_2j / (2j (2j - 1)) for log Gamma, B_2j / (2j) for psi, B_2j for psi'.
_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760)
_TRIGAMMA_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730)
# Shift of the special functions of the sweep's small arrays (Gamma and Beta parameters of q): with
# z >= 8 the series' first omitted terms are below 2e-14 (lgamma below 1e-15).
ACCURATE_SHIFT = 8


def _series(iz2, coefficients):
    """sum_j c_j iz2^j (j = 0, 1, ...) by Horner's rule."""
    out = jnp.full_like(iz2, coefficients[-1])
    for c in coefficients[-2::-1]:
        out = out * iz2 + c
    return out


def lgamma_positive(x, shift: int = 6):
    """log Gamma(x) for x > 0: lgamma(x + shift) by Stirling's series minus log prod_{i < shift}(x + i).

    Elementwise arithmetic and two logs, so XLA fuses it into its caller's kernel (XLA's ``lgamma``
    expands into a reflection branch and a series over several kernels: more compile time in every
    program that uses it, and about 3x slower on CPU). Error against SciPy, relative to max(1, |log Gamma(x)|),
    for x in [1e-8, 1e6]: < 3e-14 with the default shift 6, < 6e-15 with ``ACCURATE_SHIFT``. Overflow-free
    for x < 1e50.
    """
    z = x + shift
    iz = 1.0 / z
    series = iz * _series(iz * iz, _LGAMMA_SERIES)
    return (z - 0.5) * jnp.log(z) - z + 0.5 * LOG_2PI + series - jnp.log(_shift_product(x, shift)[0])


def digamma_trigamma(x, shift: int = 6):
    """(psi(x), psi'(x)) for x > 0: recurrence to x + shift, then the asymptotic series.

    The recurrence sums sum_i 1/(x + i) = P'/P and sum_i 1/(x + i)^2 = (P'/P)^2 - P''/P with
    P = prod_i (x + i) (one division instead of ``shift``). Error of psi against SciPy, relative to
    max(1, |psi(x)|), for x in [1e-8, 1e6]: < 2e-13 with shift 6, < 6e-15 with ``ACCURATE_SHIFT``; relative
    error of psi' < 2e-13 and < 1e-14.
    Fuses into its caller's kernel, unlike XLA's ``digamma`` (about ten kernels per call).
    """
    p, p1, p2 = _shift_product(x, shift)
    inv_p = 1.0 / p
    r1 = p1 * inv_p
    r2 = r1 * r1 - p2 * inv_p
    z = x + shift
    iz = 1.0 / z
    iz2 = iz * iz
    psi = jnp.log(z) - 0.5 * iz - iz2 * _series(iz2, _DIGAMMA_SERIES)
    psi1 = iz + 0.5 * iz2 + iz * iz2 * _series(iz2, _TRIGAMMA_SERIES)
    return psi - r1, psi1 + r2


@jax.jit   # traced once per shape; XLA drops the unused trigamma
def digamma_positive(x):
    """psi(x) for x > 0 (:func:`digamma_trigamma` at ``ACCURATE_SHIFT``)."""
    return digamma_trigamma(x, ACCURATE_SHIFT)[0]


@jax.jit
def lgamma_accurate(x):
    """log Gamma(x) for x > 0 at ``ACCURATE_SHIFT`` (:func:`lgamma_positive`)."""
    return lgamma_positive(x, ACCURATE_SHIFT)
