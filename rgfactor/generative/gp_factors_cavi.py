"""The closed-form (CAVI) part of the GP factor prior (:mod:`rgfactor.generative.gp_factors`).

Conjugate form: Z centred given the smooth part, the basis weights non-centred (the SVI form),

    u_k = gp_z_k ~ N(0, I_M),   d_kj = sqrt(scale_k S(omega_j; lengthscale_k)),   z_nk | u ~ N(phi_n . (d_k * u_k), 1 - scale_k).

Given u, the prior of z_n is N(Phi (d * u), diag(1 - scale)): q(z_n) keeps its per-subject K x K form
(the engine's factor step gets the precision diag(1 / (1 - scale)) and the linear term
Phi E[d * u] / (1 - scale)). Given q(Z), q(u_k) is Gaussian with precision
A_k = I + diag(d_k) Phi^T Phi diag(d_k) / (1 - scale_k) and mean A_k^{-1} (d_k * Phi^T E[z_k]) / (1 - scale_k):
an O(N M^2 + M^3) update per factor for M basis functions, never O(N^3), well conditioned when high
frequencies have d_kj ~ 0.

scale_k and lengthscale_k are point estimates (like the NB dispersion), set before q(u) in each sweep
to the maximiser, over a fixed grid (GRID_SCALE x GRID_LENGTHSCALE values, the lengthscales log-spaced
over the prior's central 99%), of the *collapsed* objective, the ELBO maximised over q(u) in closed form:

    f(s, l) = log N(m_k; 0, C(s, l)) - sum_n Var_q(z_nk) / (2 (1 - s)) + log p(s) + log p(l),
    C(s, l) = (1 - s) I + s Phi S_l Phi^T,

m_k = E_q[z_k]. By Woodbury, with the eigendecomposition D_l Phi^T Phi D_l = V_l diag(lam_l) V_l^T
(D_l = diag sqrt S(omega; l)) computed once per grid lengthscale before the sweeps, each sweep costs
O(L K M^2) for L grid lengthscales: log det C = n log(1 - s) + sum_j log(1 + t lam_lj) and
m^T C^{-1} m = (m^T m - t sum_j w_lj^2 / (1 + t lam_lj)) / (1 - s), t = s / (1 - s), w_l = V_l^T D_l Phi^T m.
q(u) is then the exact Gaussian conditional given the chosen (s, l), so the ELBO never decreases (the
current point is a grid point and f is the ELBO at the optimal q(u)). A grid rather than a gradient
method because the objective is cheap, two-dimensional and not concave in the lengthscale; the grid
maximum is global. Why collapsed: holding q(u) fixed while moving (s, l) pins the lengthscale wherever
it started once the weights are well determined (non-centred u: 20,000 cells, a true 0.10 stayed at
the start 0.20) or where the prior dominates them (centred weights d * u), in either parameterisation;
the collapsed step has no such memory. The grid values, normalised with the cell widths, are the
conditional posterior of (scale, lengthscale) given q(Z) with u integrated out; the draws and intervals
of the two come from it (the spread of the other blocks is not propagated, so they are narrower than a
full posterior's: benchmarks/results/gp_factors_nuts.md compares them with NUTS).
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
        """The centred basis at the subjects' coordinates, ``phi`` (n, M), its Gram matrix ``gram``
        (M, M), and for each grid lengthscale l the eigendecomposition of D_l gram D_l (D_l = diag sqrt
        S(omega; l)), ``grid_eigvals`` (L, M) and ``grid_eigvecs`` (L, M, M): computed once, they make
        the collapsed grid step of :meth:`cavi_update` O(L K M^2) per sweep."""
        phi = np.asarray(self.phi({"coordinates": jnp.asarray(arrays.coordinates)}), dtype=np.float64)
        gram = phi.T @ phi
        sd = np.asarray(self.basis.sqrt_spectral_density(jnp.asarray(self.lengthscale_grid())), dtype=np.float64)
        vals, vecs = np.linalg.eigh(sd[:, :, None] * gram[None] * sd[:, None, :])
        return {"phi": phi, "gram": gram, "grid_eigvals": np.maximum(vals, 0.0), "grid_eigvecs": vecs}

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
        """(scale_k, lengthscale_k) by grid maximisation of the collapsed objective, then q(u_k) Gaussian
        given them (module docstring)."""
        phi = self._need(data)
        n, m_dim = z_mean.shape[0], phi.shape[1]
        gram = data["gram"]
        zphi = z_mean.T @ phi                                                              # (K, M)
        zz = jnp.sum(jnp.diagonal(z_second, axis1=-2, axis2=-1), axis=0)                  # (K,)
        # collapsed: E_q(Z) log N(z_k; 0, C) - sum_n Var(z_nk) / (2 (1 - s)), C = (1 - s) I + s Phi S_l Phi^T,
        # by Woodbury with the eigendecomposition V_l diag(lam_l) V_l^T of D_l gram D_l; t = s / (1 - s)
        s = jnp.asarray(GRID_SCALE)
        ls = jnp.asarray(self.lengthscale_grid())
        lam, vecs = data["grid_eigvals"], data["grid_eigvecs"]                             # (L, M), (L, M, M)
        e = self.basis.sqrt_spectral_density(ls)                                           # (L, M)
        w2 = jnp.einsum("lmj,klm->klj", vecs, e[None] * zphi[:, None, :]) ** 2             # (K, L, M)
        t = (s / (1.0 - s))[:, None, None]                                                 # (S, 1, 1)
        shrink = 1.0 / (1.0 + t * lam[None])                                               # (S, L, M)
        logdet = jnp.sum(jnp.log1p(t * lam[None]), axis=-1)                                # (S, L)
        quad = jnp.einsum("klm,slm->ksl", w2, shrink)                                      # (K, S, L)
        f = (-0.5 * (n * jnp.log1p(-s)[None, :, None] + logdet[None]
                     + (zz[:, None, None] - t[None, :, :, 0] * quad) / (1.0 - s)[None, :, None])
             + self._log_prior(s[:, None], ls[None, :])[None])
        f = jnp.where(jnp.isfinite(f), f, -jnp.inf)
        best = jnp.argmax(f.reshape(f.shape[0], -1), axis=1)
        i, j = best // ls.shape[0], best % ls.shape[0]
        widths = jnp.log(jnp.gradient(s))[:, None] + jnp.log(jnp.gradient(ls))[None, :]
        logp = f + widths[None]
        logp = logp - jax.scipy.special.logsumexp(logp.reshape(logp.shape[0], -1), axis=1)[:, None, None]
        # q(u_k) given the chosen (scale, lengthscale): the exact conditional of the collapsed step
        scale_k, ls_k = s[i], ls[j]
        r = 1.0 / (1.0 - scale_k)
        d = self._d(scale_k, ls_k)                                                         # (K, M)
        a = jnp.eye(m_dim)[None] + r[:, None, None] * d[:, :, None] * gram[None] * d[:, None, :]
        chol = jnp.linalg.cholesky(a)
        u_m = jax.scipy.linalg.cho_solve((chol, True), (d * zphi * r[:, None])[..., None])[..., 0]
        u_cov = jax.scipy.linalg.cho_solve((chol, True), jnp.broadcast_to(jnp.eye(m_dim), a.shape))   # A^{-1}
        u_logdet = -2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=1)
        return {"u_m": u_m, "u_cov": u_cov, "u_logdet": u_logdet, "scale": scale_k, "lengthscale": ls_k,
                "grid_logp": logp}

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
