"""The closed-form (CAVI) part of the GP factor prior (:mod:`rgfactor.generative.gp_factors`).

Conjugate form: Z centred given the smooth part, the basis weights non-centred (the SVI form),

    u_k = gp_z_k ~ N(0, I_M),   gp_weight_k = sqrt(scale_k) R_l u_k,   z_nk | u ~ N(phi_n . gp_weight_k, 1 - scale_k),

R_l the root of the weights' prior covariance at lengthscale l: diag sqrt S(omega; l) for the HSGP basis
(S its spectral density), a dense (a_l K_w)^{1/2} for the process-convolution basis
(:mod:`rgfactor.generative.conv_basis`). Given u, the prior of z_n is N(Phi gp_weight, diag(1 - scale)):
q(z_n) keeps its per-subject K x K form (the engine's factor step gets the precision diag(1 / (1 - scale))
and the linear term Phi E[gp_weight] / (1 - scale)). Given q(Z), q(u_k) is Gaussian with precision
A_k = I + t_k R gram R (t = scale / (1 - scale), gram = Phi^T Phi) and mean
A_k^{-1} sqrt(scale_k) R Phi^T E[z_k] / (1 - scale_k). With the eigendecomposition V diag(lam) V^T of
R gram R at each grid lengthscale (computed once, before the sweeps), q is diagonal in v = V^T u:
v ~ N(shrink * w * sqrt(s) / (1 - s), diag(shrink)), shrink = 1 / (1 + t lam), w = P Phi^T E[z_k] with
P = V^T R; E[gp_weight] = sqrt(s) P^T E[v] and tr(gram Cov[gp_weight]) = s sum(shrink lam). An O(N M K)
update per sweep, never O(N^3), well conditioned when directions have lam ~ 0.

scale_k and lengthscale_k are point estimates (like the NB dispersion), set before q(u) in each sweep
to the maximiser, over a fixed grid (GRID_SCALE x GRID_LENGTHSCALE values, the lengthscales log-spaced
over the prior's central 99%), of the *collapsed* objective, the ELBO maximised over q(u) in closed form:

    f(s, l) = log N(m_k; 0, C(s, l)) - sum_n Var_q(z_nk) / (2 (1 - s)) + log p(s) + log p(l),
    C(s, l) = (1 - s) I + s Phi R_l^2 Phi^T,

m_k = E_q[z_k]. By Woodbury, with the eigendecomposition R_l gram R_l = V_l diag(lam_l) V_l^T computed once
per grid lengthscale before the sweeps, each sweep costs
O(L K M^2) for L grid lengthscales: log det C = n log(1 - s) + sum_j log(1 + t lam_lj) and
m^T C^{-1} m = (m^T m - t sum_j w_lj^2 / (1 + t lam_lj)) / (1 - s), t = s / (1 - s), w_l = P_l Phi^T m.
q(u) is then the exact Gaussian conditional given the chosen (s, l), so the ELBO never decreases (the
current point is a grid point and f is the ELBO at the optimal q(u)). A grid rather than a gradient
method because the objective is cheap, two-dimensional and not concave in the lengthscale; the grid
maximum is global. Why collapsed: holding q(u) fixed while moving (s, l) pins the lengthscale wherever
it started once the weights are well determined (non-centred u: 20,000 cells, a true 0.10 stayed at
the start 0.20) or where the prior dominates them (centred weights d * u), in either parameterisation;
the collapsed step has no such memory. The grid values, normalised with the cell widths, are the
conditional posterior of (scale, lengthscale) given q(Z) with u integrated out; the draws and intervals
of the two come from it (the spread of the other blocks is not propagated, so they are narrower than a
full posterior's: benchmarks/results/gp_factors_nuts.md compares them with NUTS). The draws of gp_weight
come from q(u) at the chosen (scale, lengthscale), so their spread leaves out that of the two.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from rgfactor.errors import SpecError
from rgfactor.generative.conjugate import LOG_2PI

GRID_LENGTHSCALE = 40
GRID_SCALE = np.concatenate([[1e-3, 3e-3, 0.01, 0.02, 0.035], np.linspace(0.05, 0.95, 19), [0.97, 0.985, 0.995, 0.998]])


class GPFactorsCavi:
    """Mixin of :class:`GPFactors`: the closed-form engine's methods (module docstring)."""

    # ------------------------------------------------------------------ grids and prior pieces
    def lengthscale_grid(self) -> np.ndarray:
        a, b = self.lengthscale_prior
        lo, hi = b / special.gammaincinv(a, [0.995, 0.005])   # 1/l ~ Gamma(a, b)
        return np.exp(np.linspace(np.log(lo), np.log(hi), GRID_LENGTHSCALE))

    def _log_prior(self, scale, lengthscale):
        return self.scale_dist().log_prob(scale) + self.lengthscale_dist().log_prob(lengthscale)

    # ------------------------------------------------------------------ engine interface
    def cavi_data(self, arrays) -> dict:
        """The centred basis at the subjects' coordinates, ``phi`` (n, M), its Gram matrix ``gram``
        (M, M), and for each grid lengthscale l the eigendecomposition V_l diag(lam_l) V_l^T of
        R_l gram R_l (R_l the root of the weights' prior covariance), as ``grid_eigvals`` lam (L, M) and
        ``grid_proj`` P_l = V_l^T R_l (L, M, M): computed once, they make the collapsed grid step of
        :meth:`cavi_update` O(L K M^2) per sweep."""
        phi = np.asarray(self.phi({"coordinates": jnp.asarray(arrays.coordinates)}), dtype=np.float64)
        gram = phi.T @ phi
        grid = self.lengthscale_grid()
        vals = np.empty((len(grid), phi.shape[1]))
        proj = np.empty((len(grid), phi.shape[1], phi.shape[1]))
        for i, root in enumerate(self.weight_roots(grid)):      # (M,) diagonal (HSGP) or (M, M)
            g = root[:, None] * gram * root[None, :] if root.ndim == 1 else root @ gram @ root
            lam, vecs = np.linalg.eigh(g)
            vals[i] = np.maximum(lam, 0.0)
            proj[i] = vecs.T * root[None, :] if root.ndim == 1 else vecs.T @ root
        return {"phi": phi, "gram": gram, "grid_eigvals": vals, "grid_proj": proj}

    def cavi_init(self, z0: np.ndarray, random_state: int) -> tuple[np.ndarray, dict]:
        """scale 1/2 and the grid lengthscale nearest the prior median; q(u) = N(0, I)."""
        k, m = z0.shape[1], self.basis.size
        grid = self.lengthscale_grid()
        a, b = self.lengthscale_prior
        j = np.full(k, np.argmin(np.abs(np.log(grid) - np.log(b / special.gammaincinv(a, 0.5)))))
        s = np.full(k, GRID_SCALE[np.argmin(np.abs(GRID_SCALE - 0.5))])
        return z0, {"v_m": np.zeros((k, m)), "v_var": np.ones((k, m)), "proj": np.zeros((k, m, m)),
                    "lam": np.zeros((k, m)), "scale": s, "lengthscale": grid[j],
                    "grid_logp": np.zeros((k, len(GRID_SCALE), GRID_LENGTHSCALE))}

    def _need(self, data):
        if data is None or "phi" not in data:
            raise SpecError("factor_prior='gp' has no stochastic (batch_size) closed-form update; fit it with "
                            "full sweeps (batch_size=None) or method='svi'.")
        return data["phi"]

    @staticmethod
    def _weight_mean(q: dict):
        """(K, M) E[gp_weight_k] = sqrt(scale_k) P_k^T E[v_k] (module docstring)."""
        return jnp.sqrt(q["scale"])[:, None] * jnp.einsum("kij,ki->kj", q["proj"], q["v_m"])

    def cavi_prior(self, q: dict, n_factors: int, data: dict | None = None):
        phi = self._need(data)
        r = 1.0 / (1.0 - q["scale"])
        return jnp.diag(r), (phi @ self._weight_mean(q).T) * r

    def cavi_update(self, q: dict, z_mean, z_second, scale=1.0, data: dict | None = None) -> dict:
        """(scale_k, lengthscale_k) by grid maximisation of the collapsed objective, then q(u_k) Gaussian
        given them (module docstring)."""
        phi = self._need(data)
        n = z_mean.shape[0]
        zphi = z_mean.T @ phi                                                              # (K, M)
        zz = jnp.sum(jnp.diagonal(z_second, axis1=-2, axis2=-1), axis=0)                  # (K,)
        # collapsed: E_q(Z) log N(z_k; 0, C) - sum_n Var(z_nk) / (2 (1 - s)), C = (1 - s) I + s Phi R_l^2 Phi^T,
        # by Woodbury with the eigendecomposition V_l diag(lam_l) V_l^T of R_l gram R_l; t = s / (1 - s)
        s = jnp.asarray(GRID_SCALE)
        ls = jnp.asarray(self.lengthscale_grid())
        lam, proj = data["grid_eigvals"], data["grid_proj"]                                # (L, M), (L, M, M)
        # w_l = P_l Phi^T m_k, as a batched matrix product (L, M, M) x (M, K): written "lij,kj->kli", XLA's CPU
        # kernel took 10x longer (135 vs 14 ms at L = 40, M = 859, K = 10)
        w = jnp.transpose(jnp.einsum("lij,jk->lik", proj, zphi.T), (2, 0, 1))               # (K, L, M)
        t = (s / (1.0 - s))[:, None, None]                                                 # (S, 1, 1)
        shrink = 1.0 / (1.0 + t * lam[None])                                               # (S, L, M)
        logdet = jnp.sum(jnp.log1p(t * lam[None]), axis=-1)                                # (S, L)
        quad = jnp.einsum("klm,slm->ksl", w ** 2, shrink)                                  # (K, S, L)
        f = (-0.5 * (n * jnp.log1p(-s)[None, :, None] + logdet[None]
                     + (zz[:, None, None] - t[None, :, :, 0] * quad) / (1.0 - s)[None, :, None])
             + self._log_prior(s[:, None], ls[None, :])[None])
        f = jnp.where(jnp.isfinite(f), f, -jnp.inf)
        best = jnp.argmax(f.reshape(f.shape[0], -1), axis=1)
        i, j = best // ls.shape[0], best % ls.shape[0]
        widths = jnp.log(jnp.gradient(s))[:, None] + jnp.log(jnp.gradient(ls))[None, :]
        logp = f + widths[None]
        logp = logp - jax.scipy.special.logsumexp(logp.reshape(logp.shape[0], -1), axis=1)[:, None, None]
        # q(u_k) given the chosen (scale, lengthscale), the exact conditional of the collapsed step, in the
        # eigenbasis v = V^T u where it is diagonal: N(shrink w sqrt(s) / (1 - s), diag(shrink))
        scale_k = s[i]
        lam_k = lam[j]                                                                     # (K, M)
        shrink_k = 1.0 / (1.0 + (scale_k / (1.0 - scale_k))[:, None] * lam_k)
        w_k = jnp.take_along_axis(w, j[:, None, None], axis=1)[:, 0]                       # (K, M)
        v_m = shrink_k * w_k * (jnp.sqrt(scale_k) / (1.0 - scale_k))[:, None]
        return {"v_m": v_m, "v_var": shrink_k, "proj": proj[j], "lam": lam_k, "scale": scale_k,
                "lengthscale": ls[j], "grid_logp": logp}

    def cavi_blend(self, q: dict, target: dict, rho) -> dict:
        raise SpecError("factor_prior='gp' has no stochastic (batch_size) closed-form update; use full sweeps.")

    def cavi_moments(self, q: dict) -> dict:
        """E[gp_weight] (K, M), tr(gram Cov[gp_weight_k]) = scale_k sum_i Var(v_ki) lam_ki (K,), E[u_k' u_k]."""
        return {"weight_m": self._weight_mean(q), "weight_tr": q["scale"] * jnp.sum(q["v_var"] * q["lam"], axis=1),
                "u_sq": jnp.sum(q["v_var"] + q["v_m"] ** 2, axis=1), "scale": q["scale"],
                "lengthscale": q["lengthscale"]}

    def point_moments(self, values: dict) -> tuple[np.ndarray, dict]:
        u = np.asarray(values["gp_z"]).T                                                   # (K, M)
        s, ls = np.asarray(values["scale"]), np.asarray(values["lengthscale"])
        weight = np.sqrt(s)[:, None] * np.stack([root * uk if root.ndim == 1 else root @ uk
                                                 for root, uk in zip(self.weight_roots(ls), u)])
        return np.asarray(values["Z"]), {"weight_m": weight, "weight_tr": np.zeros(len(s)),
                                         "u_sq": np.sum(u ** 2, axis=1), "scale": s, "lengthscale": ls}

    def cavi_elp(self, z_mean, z_second, m: dict, data: dict | None = None):
        """E_q[log p(Z | u, scale, lengthscale) + log p(u) + log p(scale) + log p(lengthscale)]."""
        phi = self._need(data)
        n, m_dim = z_mean.shape[0], phi.shape[1]
        s, ls, g = m["scale"], m["lengthscale"], m["weight_m"]
        zz = jnp.sum(jnp.diagonal(z_second, axis1=-2, axis2=-1), axis=0)
        # E||z_k - Phi gp_weight_k||^2
        resid = zz - 2.0 * jnp.sum((z_mean.T @ phi) * g, axis=1) + jnp.einsum("km,mj,kj->k", g, data["gram"], g) \
            + m["weight_tr"]
        out = jnp.sum(-0.5 * n * (LOG_2PI + jnp.log1p(-s)) - 0.5 * resid / (1.0 - s))
        out += jnp.sum(-0.5 * (m_dim * LOG_2PI + m["u_sq"]))                               # log N(u; 0, I)
        return out + jnp.sum(self._log_prior(s, ls))

    def cavi_entropy(self, q: dict):
        m_dim = q["v_m"].shape[1]
        return jnp.sum(0.5 * (jnp.sum(jnp.log(q["v_var"]), axis=1) + m_dim * (1.0 + LOG_2PI)))

    def cavi_draws(self, q: dict, rng: np.random.Generator, num_draws: int) -> dict:
        """gp_weight from q(u) given the chosen (scale, lengthscale); scale and lengthscale from their grid
        conditional posterior (so gp_weight's spread does not include theirs)."""
        v_m, v_var = np.asarray(q["v_m"]), np.asarray(q["v_var"])
        k, m_dim = v_m.shape
        v = v_m[None] + np.sqrt(v_var)[None] * rng.standard_normal((num_draws, k, m_dim))
        weight = np.sqrt(np.asarray(q["scale"]))[None, :, None] * np.einsum("kij,dki->dkj", np.asarray(q["proj"]), v)
        logp = np.asarray(q["grid_logp"]).reshape(k, -1)
        ls_grid = self.lengthscale_grid()
        scale, lengthscale = np.empty((num_draws, k)), np.empty((num_draws, k))
        for j in range(k):
            p = np.exp(logp[j] - logp[j].max())
            idx = rng.choice(p.size, size=num_draws, p=p / p.sum())
            scale[:, j], lengthscale[:, j] = GRID_SCALE[idx // GRID_LENGTHSCALE], ls_grid[idx % GRID_LENGTHSCALE]
        return {"gp_weight": np.swapaxes(weight, 1, 2), "scale": scale, "lengthscale": lengthscale}

    def to_reported(self, draws: dict) -> dict:
        return draws
