"""The NUTS form of the GP factor prior (:mod:`rgfactor.generative.gp_factors`): basis weights integrated out.

With u_k = gp_z_k ~ N(0, I_M), d_kj = sqrt(scale_k S(omega_j; lengthscale_k)) and
z_k | u_k ~ N(Phi (d_k * u_k), (1 - scale_k) I_N), the factor's marginal prior is the low-rank-plus-diagonal
Gaussian

    z_k ~ N(0, F_k F_k^T + v_k I_N),   F_k = Phi diag(d_k) (N x M),   v_k = 1 - scale_k.

Its log density by the Woodbury identity and the matrix determinant lemma (e.g. Rasmussen & Williams
2006, A.3), with the capacitance C_k = I_M + F_k^T F_k / v_k = I + diag(d_k) Phi^T Phi diag(d_k) / v_k =
L_k L_k^T (Phi^T Phi computed once):

    log p(z_k) = -1/2 [N log(2 pi) + N log v_k + log det C_k + ||z_k - F_k m_k||^2 / v_k + ||m_k||^2],

where m_k = C_k^{-1} F_k^T z_k / v_k is the conditional mean of u_k given z_k (the quadratic form is
written as the minimum of the regression objective rather than as z^T z / v - ..., which would cancel
catastrophically in float32 when v_k is small). Cost O(N M + M^3) per factor, never O(N^3).

The conditional of the weights given z_k is N(m_k, C_k^{-1}) (the closed-form engine's q(u) update,
:mod:`rgfactor.generative.gp_factors_cavi`, at a point Z): u_k = m_k + L_k^{-T} eps_k with eps_k ~ N(0, I)
is an exact draw.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from numpyro.distributions import constraints

from rgfactor.generative.conjugate import LOG_2PI


def _parts(z, phi, gram, d, var):
    """Cholesky factor L (K, M, M) of C, w = L^{-1} F^T z / v (K, M) and m = L^{-T} w (K, M) for z (N, K),
    phi (N, M), gram (M, M), d (K, M), var (K,)."""
    c = jnp.eye(gram.shape[0]) + d[:, :, None] * gram[None] * d[:, None, :] / var[:, None, None]
    chol = jnp.linalg.cholesky(c)
    b = d * (z.T @ phi) / var[:, None]                                               # F^T z / v  (K, M)
    w = solve_triangular(chol, b[..., None], lower=True)[..., 0]
    m = solve_triangular(chol, w[..., None], lower=True, trans="T")[..., 0]
    return chol, w, m


def marginal_log_prob(z, phi, gram, d, var):
    """(K,) log p(z_k) of the marginal prior (module docstring) for z (N, K)."""
    n = z.shape[0]
    chol, _, m = _parts(z, phi, gram, d, var)
    resid = z - phi @ (d * m).T                                                      # (N, K)
    quad = jnp.sum(resid ** 2, axis=0) / var + jnp.sum(m ** 2, axis=-1)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (n * (LOG_2PI + jnp.log(var)) + logdet + quad)


def conditional_weights(eps, z, phi, gram, d, var):
    """(M, K) draw of the weights u from their conditional given z: m + L^{-T} eps, eps (M, K) standard normal."""
    chol, w, _ = _parts(z, phi, gram, d, var)
    return solve_triangular(chol, (w + eps.T)[..., None], lower=True, trans="T")[..., 0].T


class GPFactorMarginal(dist.Distribution):
    """Z (N, K) under the GP factor prior with the basis weights integrated out (module docstring).

    Parameters
    ----------
    phi : (N, M) centred basis at the subjects' coordinates; gram : (M, M) phi^T phi.
    d : (K, M) prior sd of each factor's weights, sqrt(scale_k S(omega_j; lengthscale_k)).
    var : (K,) variance of the independent part, 1 - scale_k.
    """

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)

    def __init__(self, phi, gram, d, var, validate_args=None):
        self.phi, self.gram, self.d, self.var = phi, gram, d, var
        super().__init__(batch_shape=(), event_shape=(phi.shape[0], d.shape[0]), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k_u, k_e = jax.random.split(key)
        n, k = self.event_shape
        u = jax.random.normal(k_u, sample_shape + self.d.shape)                      # (..., K, M)
        e = jax.random.normal(k_e, sample_shape + (n, k))
        return jnp.einsum("nm,...km->...nk", self.phi, self.d * u) + jnp.sqrt(self.var) * e

    def log_prob(self, value):
        return jnp.sum(marginal_log_prob(value, self.phi, self.gram, self.d, self.var))
