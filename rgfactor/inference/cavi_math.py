"""Scalar building blocks of the CAVI engine: Polya-Gamma moments, KL divergences, batched solves.

Everything here is elementwise or batched over leading axes and is meant to be called inside a
``jax.jit``-compiled update step running in float64 (see :mod:`rgfactor.inference.cavi`).
The maths is written out in ``docs/cavi.md``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import betaln, digamma, gammaln

LOG_2PI = 1.8378770664093453


def log_cosh_half(c):
    """log cosh(c / 2), stable for large |c|."""
    c = jnp.abs(c)
    return 0.5 * c + jnp.log1p(jnp.exp(-c)) - jnp.log(2.0)


def pg_mean(b, c):
    """E[omega] for omega ~ PG(b, c) (Polson, Scott & Windle 2013, JASA 108:1339, sec. 3.1).

    E[omega] = b / (2c) tanh(c / 2), with the limit b / 4 (1 - c^2 / 12) near c = 0.
    """
    c = jnp.abs(c)
    small = c < 1e-4
    safe_c = jnp.where(small, 1.0, c)
    return jnp.where(small, b * (0.25 - c * c / 48.0), b / (2.0 * safe_c) * jnp.tanh(0.5 * safe_c))


def pg_loglik_bound(y_coef_b, kappa, e_psi, e_psi2, c):
    """Expected augmented log-likelihood E_q[log p(y, omega | psi)] - E_q[log q(omega)].

    For p(y, omega | psi) = 2^{-b} exp(kappa psi) exp(-omega psi^2 / 2) PG(omega | b, 0) and
    q(omega) = PG(b, c), this is -b log 2 + kappa E[psi] - E[omega] (E[psi^2] - c^2) / 2 - b log cosh(c/2).
    It is a lower bound on E_q[log(e^{psi y'} / (1 + e^psi)^b)], tight when c^2 = E[psi^2]
    (the Jaakkola-Jordan bound). Elementwise; the caller masks and sums.
    """
    b = y_coef_b
    return (-b * jnp.log(2.0) + kappa * e_psi - 0.5 * pg_mean(b, c) * (e_psi2 - c * c)
            - b * log_cosh_half(c))


def kl_gamma(a, b, a0, b0):
    """KL(Gamma(a, rate b) || Gamma(a0, rate b0)), elementwise."""
    return ((a - a0) * digamma(a) - gammaln(a) + gammaln(a0) + a0 * (jnp.log(b) - jnp.log(b0))
            + a * (b0 - b) / b)


def kl_beta(a, b, a0, b0):
    """KL(Beta(a, b) || Beta(a0, b0)), elementwise."""
    return (betaln(a0, b0) - betaln(a, b) + (a - a0) * digamma(a) + (b - b0) * digamma(b)
            + (a0 - a + b0 - b) * digamma(a + b))


def kl_normal(m, v, m0, v0):
    """KL(N(m, v) || N(m0, v0)) for variances v, v0, elementwise."""
    return 0.5 * ((v + (m - m0) ** 2) / v0 - 1.0 - jnp.log(v / v0))


def gamma_moments(a, b):
    """(E[x], E[log x]) for x ~ Gamma(a, rate b)."""
    return a / b, digamma(a) - jnp.log(b)


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
    chol = jnp.linalg.cholesky(precision)
    eye = jnp.broadcast_to(jnp.eye(precision.shape[-1], dtype=precision.dtype), precision.shape)
    linv = solve_triangular(chol, eye, lower=True)
    cov = jnp.swapaxes(linv, -1, -2) @ linv
    mean = jnp.einsum("...kl,...l->...k", cov, linear)
    logdet = -2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return mean, cov, logdet


def logdet_spd(cov):
    """log det of a batch of symmetric positive-definite matrices (..., K, K)."""
    chol = jnp.linalg.cholesky(cov)
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def digamma_trigamma(x, shift: int = 6):
    """(psi(x), psi'(x)) for x > 0: recurrence to x + shift, then the asymptotic series.

    Absolute error < 1e-9 for x >= 1e-3 (shift 6); much cheaper than ``polygamma`` in JAX.
    Used only for Newton directions, never inside the ELBO.
    """
    r1 = jnp.zeros_like(x)
    r2 = jnp.zeros_like(x)
    for i in range(shift):
        inv = 1.0 / (x + i)
        r1 = r1 + inv
        r2 = r2 + inv * inv
    z = x + shift
    iz = 1.0 / z
    iz2 = iz * iz
    psi = jnp.log(z) - 0.5 * iz - iz2 * (1.0 / 12 - iz2 * (1.0 / 120 - iz2 * (1.0 / 252 - iz2 / 240)))
    psi1 = iz + 0.5 * iz2 + iz * iz2 * (1.0 / 6 - iz2 * (1.0 / 30 - iz2 * (1.0 / 42 - iz2 / 30)))
    return psi - r1, psi1 + r2
