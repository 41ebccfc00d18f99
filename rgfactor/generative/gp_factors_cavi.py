"""The closed-form (CAVI) part of the GP factor prior (:mod:`rgfactor.generative.gp_factors`).

Conjugate form: Z centred given the smooth part, the basis weights non-centred (the SVI form),

    u_k = gp_z_k ~ N(0, I_M),   d_kj = sqrt(scale_k S(omega_j; lengthscale_k)),   z_nk | u ~ N(phi_n . (d_k * u_k), 1 - scale_k).

Given u, the prior of z_n is N(Phi (d * u), diag(1 - scale)): q(z_n) keeps its per-subject K x K form
(the engine's factor step gets the precision diag(1 / (1 - scale)) and the linear term
Phi E[d * u] / (1 - scale)). Given q(Z), q(u_k) is Gaussian with precision
A_k = I + diag(d_k) Phi^T Phi diag(d_k) / (1 - scale_k) and mean A_k^{-1} (d_k * Phi^T E[z_k]) / (1 - scale_k):
an O(N M^2 + M^3) update per factor for M basis functions, never O(N^3), well conditioned when high
frequencies have d_kj ~ 0.

scale_k and lengthscale_k are point estimates (like the NB dispersion): after q(u), each factor's
(scale, lengthscale) is set to the maximiser, over a fixed grid (GRID_SCALE x GRID_LENGTHSCALE values,
the lengthscales log-spaced over the prior's central 99%), of the ELBO terms that depend on them,

    f(s, l) = -n/2 log(1 - s) - E||z_k - Phi (d(s, l) * u_k)||^2 / (2 (1 - s)) + log p(s) + log p(l),

an O(M^2) function per grid point given E[u u^T] and Phi^T Phi. A grid rather than a gradient method
because the objective is cheap, two-dimensional and not concave in the lengthscale; a grid maximum is
global and includes the current value, so the ELBO never decreases (the current point is always a
grid point). The weights are non-centred here on purpose: with the centred weights c = d * u held
fixed, the poorly informed high frequencies (E[c_j^2] ~ the old prior variance) pin the lengthscale at
its old value and it never moves (tried: every factor stayed at its start). The grid values, normalised
with the cell widths, are the conditional posterior of (scale, lengthscale) given q(Z) and q(u); the
draws and intervals of the two come from it (the spread of the other blocks is not propagated, so they
are narrower than a full posterior's).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy import special

from rgfactor.errors import SpecError
from rgfactor.generative.conjugate import LOG_2PI, normal_elp

GRID_LENGTHSCALE = 40
GRID_SCALE = np.concatenate([[1e-3, 3e-3, 0.01, 0.02, 0.035], np.linspace(0.05, 0.95, 19), [0.97, 0.985, 0.995, 0.998]])


class GPFactorsCavi:
    """Mixin of :class:`GPFactors`: the closed-form engine's methods (module docstring)."""

    # ------------------------------------------------------------------ grids and prior pieces
    def lengthscale_grid(self) -> np.ndarray:
        a, b = self.lengthscale_prior
        lo, hi = b / special.gammaincinv(a, [0.995, 0.005])   # 1/l ~ Gamma(a, b)
        return np.exp(np.linspace(np.log(lo), np.log(hi), GRID_LENGTHSCALE))

    def _log_spectral(self, lengthscale):
        """(..., M) log S of the unit-variance kernel at the basis frequencies."""
        return 2.0 * jnp.log(self.basis.sqrt_spectral_density(lengthscale))

    def _log_prior(self, scale, lengthscale):
        return self.scale_dist().log_prob(scale) + self.lengthscale_dist().log_prob(lengthscale)

    # ------------------------------------------------------------------ engine interface
    def cavi_data(self, arrays) -> dict:
        """The centred basis at the subjects' coordinates, ``phi`` (n, M), and its Gram matrix ``gram``
        (M, M), computed once."""
        phi = np.asarray(self.phi({"coordinates": jnp.asarray(arrays.coordinates)}), dtype=np.float64)
        return {"phi": phi, "gram": phi.T @ phi}

    def cavi_init(self, z0: np.ndarray, random_state: int) -> tuple[np.ndarray, dict]:
        """scale 1/2 and the grid lengthscale nearest the prior median; q(u) = N(0, I)."""
        k, m = z0.shape[1], self.basis.size
        grid = self.lengthscale_grid()
        a, b = self.lengthscale_prior
        ls = np.full(k, grid[np.argmin(np.abs(np.log(grid) - np.log(b / special.gammaincinv(a, 0.5))))])
        s = np.full(k, GRID_SCALE[np.argmin(np.abs(GRID_SCALE - 0.5))])
        return z0, {"u_m": np.zeros((k, m)), "u_cov": np.broadcast_to(np.eye(m), (k, m, m)).copy(),
                    "u_logdet": np.zeros(k), "scale": s, "lengthscale": ls,
                    "grid_logp": np.zeros((k, len(GRID_SCALE), GRID_LENGTHSCALE))}

    def _need(self, data):
        if data is None or "phi" not in data:
            raise SpecError("factor_prior='gp' has no stochastic (batch_size) closed-form update; fit it with "
                            "full sweeps (batch_size=None) or method='svi'.")
        return data["phi"]

    def _d(self, scale, lengthscale):
        """(..., M) prior sd of the smooth part's weights, sqrt(scale S(omega; lengthscale))."""
        return jnp.sqrt(scale)[..., None] * self.basis.sqrt_spectral_density(lengthscale)

    def cavi_prior(self, q: dict, n_factors: int, data: dict | None = None):
        phi = self._need(data)
        r = 1.0 / (1.0 - q["scale"])
        return jnp.diag(r), (phi @ (self._d(q["scale"], q["lengthscale"]) * q["u_m"]).T) * r

    @staticmethod
    def _residual(zz, zphi, gram, d, u_m, u_second):
        """E||z_k - Phi (d_k * u_k)||^2 from sum_n E[z_nk^2] (K,), Phi^T E[z_k] (K, M), d (..., K, M)."""
        return (zz - 2.0 * jnp.sum(zphi * d * u_m, axis=-1)
                + jnp.einsum("...km,kmj,...kj->...k", d, gram[None] * u_second, d))

    def cavi_update(self, q: dict, z_mean, z_second, scale=1.0, data: dict | None = None) -> dict:
        """q(u_k) Gaussian, then (scale_k, lengthscale_k) by grid maximisation (module docstring)."""
        phi = self._need(data)
        n, m_dim = z_mean.shape[0], phi.shape[1]
        gram = data["gram"]
        zphi = z_mean.T @ phi                                                              # (K, M)
        zz = jnp.sum(jnp.diagonal(z_second, axis1=-2, axis2=-1), axis=0)                  # (K,)
        r = 1.0 / (1.0 - q["scale"])
        d = self._d(q["scale"], q["lengthscale"])                                          # (K, M)
        a = jnp.eye(m_dim)[None] + r[:, None, None] * d[:, :, None] * gram[None] * d[:, None, :]
        chol = jnp.linalg.cholesky(a)
        u_m = jax.scipy.linalg.cho_solve((chol, True), (d * zphi * r[:, None])[..., None])[..., 0]
        u_cov = jax.scipy.linalg.cho_solve((chol, True), jnp.broadcast_to(jnp.eye(m_dim), a.shape))   # A^{-1}
        u_second = u_cov + u_m[:, :, None] * u_m[:, None, :]
        # (scale, lengthscale) on the grid: R(s, l) = zz - 2 sqrt(s) P_l + s Q_l, e_l = sqrt(S(l))
        s = jnp.asarray(GRID_SCALE)
        ls = jnp.asarray(self.lengthscale_grid())
        e = self.basis.sqrt_spectral_density(ls)                                           # (L, M)
        p_lin = jnp.einsum("lm,km->kl", e, zphi * u_m)
        q_quad = jnp.einsum("lm,kmj,lj->kl", e, gram[None] * u_second, e)
        resid = zz[:, None, None] - 2.0 * jnp.sqrt(s)[None, :, None] * p_lin[:, None, :] + s[None, :, None] * q_quad[:, None, :]
        f = (-0.5 * n * jnp.log1p(-s)[None, :, None] - 0.5 * resid / (1.0 - s)[None, :, None]
             + self._log_prior(s[:, None], ls[None, :])[None])
        f = jnp.where(jnp.isfinite(f), f, -jnp.inf)
        best = jnp.argmax(f.reshape(f.shape[0], -1), axis=1)
        i, j = best // ls.shape[0], best % ls.shape[0]
        widths = jnp.log(jnp.gradient(s))[:, None] + jnp.log(jnp.gradient(ls))[None, :]
        logp = f + widths[None]
        logp = logp - jax.scipy.special.logsumexp(logp.reshape(logp.shape[0], -1), axis=1)[:, None, None]
        logdet = -2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=1)
        return {"u_m": u_m, "u_cov": u_cov, "u_logdet": logdet, "scale": s[i], "lengthscale": ls[j], "grid_logp": logp}

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        raise SpecError("factor_prior='gp' has no stochastic (batch_size) closed-form update; use full sweeps.")

    def cavi_moments(self, q: dict) -> dict:
        u_second = q["u_cov"] + q["u_m"][:, :, None] * q["u_m"][:, None, :]
        return {"u_m": q["u_m"], "u_second": u_second, "scale": q["scale"], "lengthscale": q["lengthscale"]}

    def point_moments(self, values: dict) -> tuple[np.ndarray, dict]:
        u = np.asarray(values["gp_z"]).T                                                   # (K, M)
        return np.asarray(values["Z"]), {"u_m": u, "u_second": u[:, :, None] * u[:, None, :],
                                         "scale": np.asarray(values["scale"]),
                                         "lengthscale": np.asarray(values["lengthscale"])}

    def cavi_elp(self, z_mean, z_second, m: dict, data: dict | None = None):
        """E_q[log p(Z | u, scale, lengthscale) + log p(u) + log p(scale) + log p(lengthscale)]."""
        phi = self._need(data)
        n = z_mean.shape[0]
        s, ls = m["scale"], m["lengthscale"]
        zz = jnp.sum(jnp.diagonal(z_second, axis1=-2, axis2=-1), axis=0)
        resid = self._residual(zz, z_mean.T @ phi, data["gram"], self._d(s, ls), m["u_m"], m["u_second"])
        out = jnp.sum(-0.5 * n * (LOG_2PI + jnp.log1p(-s)) - 0.5 * resid / (1.0 - s))
        out += jnp.sum(normal_elp(dist.Normal(0.0, 1.0), m["u_m"], jnp.diagonal(m["u_second"], axis1=-2, axis2=-1)))
        return out + jnp.sum(self._log_prior(s, ls))

    def cavi_entropy(self, q: dict):
        m_dim = q["u_m"].shape[1]
        return jnp.sum(0.5 * (q["u_logdet"] + m_dim * (1.0 + LOG_2PI)))

    def cavi_draws(self, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        """gp_z from q(u); scale and lengthscale from their grid conditional posterior (gp_weight is then
        derived per draw, :meth:`GPFactors.derive`)."""
        u_m = np.asarray(q["u_m"])
        k, m_dim = u_m.shape
        factor = np.linalg.cholesky(np.asarray(q["u_cov"]) + 1e-12 * np.eye(m_dim))
        u = u_m[None] + np.einsum("kij,dkj->dki", factor, rng.standard_normal((num_draws, k, m_dim)))
        logp = np.asarray(q["grid_logp"]).reshape(k, -1)
        ls_grid = self.lengthscale_grid()
        scale, lengthscale = np.empty((num_draws, k)), np.empty((num_draws, k))
        for j in range(k):
            p = np.exp(logp[j] - logp[j].max())
            idx = rng.choice(p.size, size=num_draws, p=p / p.sum())
            scale[:, j], lengthscale[:, j] = GRID_SCALE[idx // GRID_LENGTHSCALE], ls_grid[idx % GRID_LENGTHSCALE]
        return {"gp_z": np.swapaxes(u, 1, 2), "scale": scale, "lengthscale": lengthscale}

    def to_reported(self, draws: dict) -> dict:
        return draws
