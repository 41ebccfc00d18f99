"""Coefficient surfaces with a Hilbert-space GP prior: the spatially varying coefficient component.

For term j (the intercept or a covariate) and a unit at location s (1-3 coordinates),

    beta_j(s) = beta_mean_j + f_j(s),
    f_j(s)    = sum_k phic_k(s) w_jk,   w_jk = amplitude_j sqrt(S(omega_k; lengthscale_j)) z_jk,  z_jk ~ N(0, 1)

with phi_k the Laplacian eigenfunctions on the box [-L_1, L_1] x ... and omega_k their square-root
eigenvalues (Solin & Särkkä 2020, Stat Comput 30:419, eq. 56), S the spectral density of a unit-
variance squared-exponential or Matérn kernel (Rasmussen & Williams 2006, eq. 4.15, 4.21), both from
``numpyro.contrib.hsgp`` (Riutort-Mayol et al. 2023, Stat Comput 33:17, eq. 8: the non-centred form).

Two choices keep the posterior healthy when a surface is constant (the failure of a plain HSGP SVC,
where NUTS diverges as the amplitude goes to zero):

* the mean is a parameter of its own and the basis is centred, phic_k = phi_k - mean_i phi_k(s_i)
  over the training units, so f_j has mean zero over the units and cannot trade off with beta_mean_j
  (the first basis function is nearly constant on the data: without centring it is a second copy of
  the mean, a ridge in the posterior);
* the amplitude has the penalised-complexity prior of a Gaussian random effect's sd (Simpson et al.
  2017, Stat Sci 32:1, Sec. 3.3): Exponential with P(amplitude_j > U_j) = 0.05, positive density at
  zero, so a constant surface puts the amplitude near zero without a boundary the sampler must avoid.
  Under the Gaussian likelihood the engines integrate the weights out exactly (:mod:`rgfactor.
  generative.svc`), so no amplitude/weight funnel exists at all.

The lengthscale has an inverse-gamma prior with 1% of its mass below ``lengthscale_range[0]`` and 1%
above ``lengthscale_range[1]`` (Betancourt 2017, "Robust Gaussian processes in Stan"). Basis size and
boundary factor follow Riutort-Mayol et al. (2023, Sec. 4.3, eq. 19-21 and their Fig. 7 fits) for the
squared exponential c >= 3.2 l/S, m = 1.75 c S / l; Matérn 5/2: 4.1, 2.65; Matérn 3/2: 4.5, 3.42; c >= 1.2,
per coordinate d with S_d its half-range, c_d set by the prior's median lengthscale (the box must
hold the typical correlation range) and m_d by the shortest lengthscale the basis must resolve
(``resolve``: by default the prior's lower 1% quantile; the SVC starts from the prior median and
refits by their diagnostic, :mod:`rgfactor.svc`), at most (distinct locations - 1) per coordinate. Their diagnostic (posterior lengthscale >= the smallest the basis resolves) is
:meth:`HSGPBasis.check_lengthscale`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.hsgp.laplacian import eigenfunctions
from numpyro.contrib.hsgp.spectral_densities import (diag_spectral_density_matern,
                                                     diag_spectral_density_squared_exponential)
from scipy import optimize, special

from rgfactor.errors import DataError, SpecError
from rgfactor.generative.components import ALL_ENGINES, NUMPYRO_ENGINES
from rgfactor.generative.variables import HELPER, PLAIN, Variable

# kernel -> (Matérn nu or None for the squared exponential, k_m, k_c) of Riutort-Mayol et al. (2023)
KERNELS = {"squared_exponential": (None, 1.75, 3.2), "matern52": (2.5, 2.65, 4.1), "matern32": (1.5, 3.42, 4.5)}
MIN_BOUNDARY_FACTOR = 1.2
LENGTHSCALE_TAIL = 0.01      # prior mass below/above lengthscale_range
AMPLITUDE_TAIL = 0.05        # PC prior: P(amplitude > U) = 0.05

BETA = Variable("beta", ("unit", "term"), PLAIN, "coefficient surface beta_j(s_i) at each unit")
BETA_MEAN = Variable("beta_mean", ("term",), PLAIN, "mean of the surface over the training units")
AMPLITUDE = Variable("amplitude", ("term",), PLAIN, "marginal sd of the GP part f_j (coefficient units)")
LENGTHSCALE = Variable("lengthscale", ("term",), PLAIN, "GP lengthscale (coordinate units)")
GP_WEIGHT = Variable("gp_weight", ("term", "basis"), PLAIN, "weights of the centred basis functions")
GP_Z = Variable("gp_z", ("term", "basis"), HELPER, "non-centred basis weights, N(0, 1)")
SPATIAL_SD = Variable("spatial_sd", ("term",), PLAIN, "sd of beta_j(s_i) over the training units")


def inverse_gamma_from_quantiles(lower: float, upper: float, tail: float = LENGTHSCALE_TAIL) -> tuple[float, float]:
    """(concentration a, scale b) of the inverse gamma with P(l < lower) = P(l > upper) = ``tail``.

    1/l ~ Gamma(a, rate b); the ratio of Gamma(a, 1) quantiles fixes a, then b (Betancourt 2017).

    Raises
    ------
    SpecError  unless 0 < lower < upper.
    """
    if not (0 < lower < upper):
        raise SpecError(f"lengthscale_range must be (lower, upper) with 0 < lower < upper, got ({lower}, {upper}).")

    def gap(log_a):
        a = math.exp(log_a)
        return math.log(special.gammaincinv(a, 1 - tail) / special.gammaincinv(a, tail)) - math.log(upper / lower)

    a = math.exp(optimize.brentq(gap, -5.0, 12.0))
    return a, special.gammaincinv(a, 1 - tail) * lower


def prior_median_lengthscale(lengthscale_range: tuple, quantile: float = 0.5) -> float:
    """Median (or another ``quantile``) of the inverse-gamma lengthscale prior of
    :func:`inverse_gamma_from_quantiles`."""
    a, b = inverse_gamma_from_quantiles(*lengthscale_range)
    return b / special.gammaincinv(a, 1.0 - quantile)          # 1 / l ~ Gamma(a, b)


def basis_rule(kernel: str, half_ranges, lengthscale_lower: float, lengthscale_typical: float):
    """Number of basis functions and boundary factor per coordinate (Riutort-Mayol et al. 2023, Sec. 4.3).

    Parameters
    ----------
    kernel : a key of :data:`KERNELS`.
    half_ranges : S_d, half-range of each coordinate (same units as the lengthscales).
    lengthscale_lower : the shortest lengthscale to resolve (sets m_d).
    lengthscale_typical : the lengthscale the box must hold (sets c_d).

    Returns
    -------
    (m, c) : tuples of ints and floats, one per coordinate.
    """
    _, k_m, k_c = KERNELS[kernel]
    m, c = [], []
    for s in half_ranges:
        c_d = max(MIN_BOUNDARY_FACTOR, k_c * lengthscale_typical / s)
        c.append(round(c_d, 4))
        m.append(max(1, math.ceil(k_m * c_d * s / lengthscale_lower - 1e-9)))
    return tuple(m), tuple(c)


# The basis's array functions (phi, raw_phi, the spectral density) are compiled once per basis (a static argument),
# for every user of the basis (SVC, GP factors, region factors): called outside a compiled
# program (the basis's construction, draws, summaries) their dozens of small operations would otherwise each
# be compiled as a program of its own (an SVC fit compiled ~120 such programs, 1.7 s). Inside a traced
# program they are inlined.
@partial(jax.jit, static_argnums=0)
def _raw_phi(basis: HSGPBasis, coords):
    return eigenfunctions(basis.scaled(coords), ell=basis.ell, m=list(basis.n_basis))


@partial(jax.jit, static_argnums=0)
def _phi(basis: HSGPBasis, coords):
    return _raw_phi(basis, coords) - jnp.asarray(basis.basis_mean)


@partial(jax.jit, static_argnums=0)
def _sqrt_spectral_density(basis: HSGPBasis, lengthscale):
    nu, _, _ = KERNELS[basis.kernel]
    ell = basis.ell

    def one(length):
        if nu is None:
            s = diag_spectral_density_squared_exponential(1.0, length, ell, list(basis.n_basis), basis.dim)
        else:
            s = diag_spectral_density_matern(nu, 1.0, length, ell, list(basis.n_basis), basis.dim)
        # clamp before the root: S underflows to 0 at high frequencies for long lengthscales, and
        # d sqrt(S) / dS is infinite there (NaN gradients = divergent NUTS transitions)
        return jnp.sqrt(jnp.maximum(s, jnp.finfo(s.dtype).tiny))

    ls = jnp.asarray(lengthscale) / basis.scale
    flat = jax.vmap(one)(ls.reshape(-1))
    return flat.reshape(ls.shape + (basis.size,))


@dataclass(frozen=True)
class HSGPBasis:
    """The basis of the surfaces: coordinate scaling, box, number of functions, centring.

    Coordinates are centred at the midpoint of their range and divided by one common scale (the
    largest half-range), so the kernel stays isotropic in the user's units; lengthscales are
    reported in those units.

    Attributes
    ----------
    kernel : 'squared_exponential', 'matern52' or 'matern32'.
    centre : midpoint of each coordinate's training range (coordinate units).
    scale : coordinate units per scaled unit.
    half_ranges : S_d of each coordinate in scaled units (the largest is 1).
    n_basis : m_d per coordinate; the basis has prod(m_d) functions.
    boundary_factor : c_d per coordinate; the box is [-c_d S_d, c_d S_d] (scaled units).
    basis_mean : mean of each basis function over the training units (the centring).
    """

    kernel: str
    centre: tuple
    scale: float
    half_ranges: tuple
    n_basis: tuple
    boundary_factor: tuple
    basis_mean: tuple = ()
    engines = ALL_ENGINES    # a diagonal weight prior: every engine

    @classmethod
    def from_coordinates(cls, coords: np.ndarray, kernel: str, lengthscale_range: tuple,
                         n_basis=None, boundary_factor=None, resolve: float | None = None,
                         box_quantile: float = 0.5) -> HSGPBasis:
        """The basis for training coordinates ``coords`` (n, D) by the rule of :func:`basis_rule`
        (``n_basis`` / ``boundary_factor`` override it: an int/float or one per coordinate).

        ``resolve`` is the shortest lengthscale the basis must resolve, in units of the largest
        half-range (default ``lengthscale_range[0]``, the prior's lower 1% quantile). Without
        ``n_basis``, m_d is at most (number of distinct values of coordinate d) - 1: the centred basis
        cannot have more independent columns on the training units than that. The box holds the
        ``box_quantile`` quantile of the lengthscale prior (default its median).
        """
        if kernel not in KERNELS:
            raise SpecError(f"unknown kernel '{kernel}'; choose one of {sorted(KERNELS)}.")
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        half = (hi - lo) / 2.0
        scale = float(half.max())
        half_ranges = tuple(float(h / scale) for h in half)
        median = prior_median_lengthscale(lengthscale_range, box_quantile)
        m, c = basis_rule(kernel, half_ranges, lengthscale_range[0] if resolve is None else resolve, median)
        distinct = [len(np.unique(coords[:, j])) for j in range(coords.shape[1])]
        m = tuple(max(1, min(mj, nd - 1)) for mj, nd in zip(m, distinct))
        d = coords.shape[1]
        if n_basis is not None:
            m = tuple(int(v) for v in np.broadcast_to(n_basis, (d,)))
            if min(m) < 1:
                raise SpecError(f"n_basis must be >= 1 per coordinate, got {n_basis}.")
        if boundary_factor is not None:
            c = tuple(float(v) for v in np.broadcast_to(boundary_factor, (d,)))
            if min(c) <= 1.0:
                raise SpecError(f"boundary_factor must be > 1 (the box must contain the data), got {boundary_factor}.")
        basis = cls(kernel, tuple(float(v) for v in (lo + hi) / 2.0), scale, half_ranges, m, c)
        phi = np.asarray(basis.raw_phi(coords))
        return cls(kernel, basis.centre, scale, half_ranges, m, c, tuple(phi.mean(axis=0).tolist()))

    # ------------------------------------------------------------------ geometry
    @property
    def dim(self) -> int:
        return len(self.centre)

    @property
    def ell(self) -> list[float]:
        """Half-widths L_d of the box, scaled units."""
        return [c * s for c, s in zip(self.boundary_factor, self.half_ranges)]

    @property
    def size(self) -> int:
        return int(np.prod(self.n_basis))

    def scaled(self, coords):
        return (jnp.asarray(coords) - jnp.asarray(self.centre)) / self.scale

    def check_inside(self, coords: np.ndarray, labels) -> None:
        """Raise DataError naming the first unit outside the box (where the basis is meaningless)."""
        x = np.abs((np.asarray(coords) - np.asarray(self.centre)) / self.scale)
        out = np.flatnonzero((x >= np.asarray(self.ell)[None, :]).any(axis=1))
        if len(out):
            raise DataError(f"unit '{labels[out[0]]}' lies at {np.asarray(coords)[out[0]].tolist()}, outside the "
                            f"region the surfaces are defined on (the HSGP box, {self.boundary_factor} times the "
                            "training half-range around its centre); surfaces cannot be extrapolated that far.")

    def raw_phi(self, coords):
        """(n, size) Laplacian eigenfunctions at ``coords`` (coordinate units), not centred."""
        return _raw_phi(self, coords)

    def phi(self, coords):
        """(n, size) centred basis functions at ``coords`` (coordinate units)."""
        return _phi(self, coords)

    def sqrt_spectral_density(self, lengthscale):
        """(..., size) sqrt of the unit-variance spectral density at the basis frequencies, for
        ``lengthscale`` (...,) in coordinate units."""
        return _sqrt_spectral_density(self, lengthscale)

    def weight_roots(self, lengthscales) -> np.ndarray:
        """(L, size) sqrt spectral densities for ``lengthscales`` (L,): the diagonal root of the weights' prior
        covariance (numpy, float64; the form :mod:`rgfactor.generative.gp_factors_cavi` reads)."""
        ls = np.atleast_1d(np.asarray(lengthscales, dtype=float))
        return np.asarray(self.sqrt_spectral_density(jnp.asarray(ls)), dtype=np.float64)

    def shortest_lengthscale(self) -> float:
        """The shortest lengthscale (coordinate units) the basis resolves: min_d k_m c_d S_d / m_d."""
        _, k_m, _ = KERNELS[self.kernel]
        return self.scale * min(k_m * c * s / m for c, s, m in zip(self.boundary_factor, self.half_ranges,
                                                                    self.n_basis))

    def check_lengthscale(self, lengthscale_median: np.ndarray, terms) -> list[str]:
        """Riutort-Mayol et al.'s diagnostic: warnings for terms whose posterior median lengthscale is
        below the shortest one the basis resolves (raise n_basis or the lower lengthscale_range)."""
        short = self.shortest_lengthscale()
        return [f"term '{t}': posterior median lengthscale {v:.3g} is below {short:.3g}, the shortest the HSGP "
                f"basis resolves (n_basis={list(self.n_basis)}); refit with a larger n_basis."
                for t, v in zip(terms, np.asarray(lengthscale_median)) if v < short]

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HSGPBasis:
        d = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class HSGPSurfaces:
    """The coefficient-surface component: one HSGP surface per term (see the module docstring).

    Attributes
    ----------
    basis : the :class:`HSGPBasis`.
    n_terms : J (intercept + covariates).
    mean_loc, mean_scale : prior N(mean_loc_j, mean_scale_j^2) of beta_mean_j (coefficient units).
    amplitude_rate : rate of the Exponential (PC) prior of amplitude_j.
    lengthscale_prior : (a, b) of the inverse-gamma prior of the lengthscale (coordinate units).
    """

    basis: HSGPBasis
    n_terms: int
    mean_loc: tuple
    mean_scale: tuple
    amplitude_rate: tuple
    lengthscale_prior: tuple
    engines = NUMPYRO_ENGINES

    def variables(self) -> tuple[Variable, ...]:
        return (BETA, BETA_MEAN, AMPLITUDE, LENGTHSCALE, GP_WEIGHT, GP_Z, SPATIAL_SD)

    # ------------------------------------------------------------------ priors and NumPyro blocks
    def amplitude_prior(self):
        return dist.Exponential(jnp.asarray(self.amplitude_rate))

    def lengthscale_dist(self):
        a, b = self.lengthscale_prior
        return dist.InverseGamma(a, b)

    def sample_hyper(self):
        """amplitude (J,), lengthscale (J,)."""
        with numpyro.plate("term", self.n_terms, dim=-1):
            amp = numpyro.sample("amplitude", self.amplitude_prior())
            ls = numpyro.sample("lengthscale", self.lengthscale_dist())
        return amp, ls

    def weight_sd(self, amplitude, lengthscale):
        """(J, size) prior sd of the basis weights: amplitude_j sqrt(S(omega_k; lengthscale_j))."""
        return amplitude[..., None] * self.basis.sqrt_spectral_density(lengthscale)

    def sample(self):
        """Non-centred block: (beta_mean (J,), gp_weight (J, size)); weights w = sd * z."""
        amp, ls = self.sample_hyper()
        with numpyro.plate("term", self.n_terms, dim=-1):
            mean = numpyro.sample("beta_mean", dist.Normal(jnp.asarray(self.mean_loc), jnp.asarray(self.mean_scale)))
        with numpyro.plate("term_b", self.n_terms, dim=-2), numpyro.plate("basis", self.basis.size, dim=-1):
            z = numpyro.sample("gp_z", dist.Normal(0.0, 1.0))
        return mean, self.weight_sd(amp, ls) * z

    @staticmethod
    def surfaces(beta_mean, gp_weight, phi):
        """(..., n, J) beta_j(s_i) from beta_mean (..., J), gp_weight (..., J, size), phi (n, size)."""
        return beta_mean[..., None, :] + jnp.einsum("nk,...jk->...nj", phi, gp_weight)

    @staticmethod
    def contribution(beta_mean, gp_weight, design, phi):
        """(n,) sum_j x_ij beta_j(s_i)."""
        return design @ beta_mean + jnp.sum(design * (phi @ gp_weight.T), axis=-1)
