"""A process-convolution basis for GP factors at short lengthscales (many locations in 2-D).

A Hilbert-space basis (:class:`rgfactor.generative.hsgp.HSGPBasis`) is fixed and only its weights'
prior depends on the lengthscale, but it needs about (range / lengthscale)^D functions: in 2-D a
lengthscale of 2% of the range takes ~10,000, more than a tissue section has cells. Cortical layers
on osmFISH are that fine (benchmarks/results/gp_factors_osmfish.md).

This basis is local instead: Gaussian bumps of width ``width`` (l0) centred on a regular lattice of
spacing h = l0 over the data (lattice points farther than 1.5 h from every training location dropped),

    f(s) = sum_j k0(s - u_j) w_j,   k0(r) = exp(-|r|^2 / (2 l0^2)),   w ~ N(0, a_l K_w),

with K_w the squared-exponential kernel of lengthscale l_w = sqrt(max(l^2 - 2 l0^2, 0)) over the lattice
(l_w = 0: K_w = I). By the convolution of Gaussians f is then, up to the lattice discretisation, a
squared-exponential GP of lengthscale l (the discrete process convolution of Higdon 2002, "Space and
space-time modeling using process convolutions", in Quantitative Methods for Current Environmental
Issues, 37-56; Higdon's rule spacing <= kernel sd); the shortest lengthscale it represents is
sqrt(2) l0. a_l scales the prior variance of f to 1 on average over the lattice. The functions are
centred over the training locations (as the HSGP basis), so the smooth part cannot trade off with the
views' intercepts.

Unlike the HSGP's diagonal weight prior, a_l K_w is a dense M x M matrix: the weights' root
R_l = (a_l K_w)^{1/2} takes one eigendecomposition per lengthscale. The closed-form engine needs it
only on its lengthscale grid (:mod:`rgfactor.generative.gp_factors_cavi`), so this basis is fitted by
that engine alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import jax.numpy as jnp
import numpy as np

from rgfactor.errors import DataError, SpecError

MAX_CONV_BASIS = 900   # lattice points: the closed-form engine's set-up costs O(L M^3) for L grid lengthscales
KEEP_RADIUS = 1.5      # lattice points within this many spacings of a training location are kept
BOX_MARGIN = 3.0       # new locations may lie this many widths outside the training range


def _lattice(coords: np.ndarray, h: float) -> np.ndarray:
    """Points of the regular lattice of spacing h over the padded range of ``coords`` within
    KEEP_RADIUS h of some training location."""
    from scipy.spatial import cKDTree

    lo, hi = coords.min(axis=0) - h, coords.max(axis=0) + h
    axes = [np.arange(a, b + 0.5 * h, h) for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, coords.shape[1])
    d, _ = cKDTree(coords).query(grid, k=1)
    return grid[d <= KEEP_RADIUS * h]


def lattice_spacing(coords: np.ndarray, shortest: float, max_size: int = MAX_CONV_BASIS) -> float:
    """The lattice spacing h (= bump width) for a shortest lengthscale ``shortest``: shortest / sqrt(2),
    widened until the lattice has at most ``max_size`` points."""
    coords = np.asarray(coords, dtype=float)
    h = shortest / np.sqrt(2.0)
    ranges = np.ptp(coords, axis=0)
    # the lattice over the padded box before the far points are dropped: kept to ~100 x max_size points
    # (tightly clustered locations would otherwise ask for a lattice of billions)
    while np.prod(np.floor(ranges / h) + 3.0) > 100.0 * max_size:
        h *= 1.5
    while len(_lattice(coords, h)) > max_size and h < float(ranges.max()):
        h *= 1.05
    return float(h)


@dataclass(frozen=True)
class ConvolutionBasis:
    """Gaussian bumps on a lattice (module docstring).

    Attributes
    ----------
    centres : (M, D) lattice points (coordinate units), as a tuple of tuples.
    width : l0, the bumps' sd = the lattice spacing (coordinate units).
    lower, upper : the training coordinates' range per coordinate (new locations may lie up to
        BOX_MARGIN widths outside it).
    basis_mean : (M,) mean of each bump over the training locations (the centring).
    """

    centres: tuple
    width: float
    lower: tuple
    upper: tuple
    basis_mean: tuple = ()
    kind: str = "convolution"
    engines = frozenset({"cavi"})   # a dense weight prior per lengthscale: the closed form's grid only

    @classmethod
    def from_coordinates(cls, coords: np.ndarray, shortest: float, max_size: int = MAX_CONV_BASIS) -> ConvolutionBasis:
        """The basis for training coordinates ``coords`` (n, D) resolving lengthscales down to
        ``shortest`` (coordinate units) where at most ``max_size`` lattice points allow it (else the
        shortest resolved is longer: :meth:`shortest_lengthscale`).

        Raises
        ------
        SpecError  for a shortest lengthscale that is not positive and finite.
        """
        coords = np.asarray(coords, dtype=float)
        if not np.isfinite(shortest) or shortest <= 0:
            raise SpecError(f"the shortest lengthscale must be positive, got {shortest}.")
        h = lattice_spacing(coords, shortest, max_size)
        centres = _lattice(coords, h)
        basis = cls(tuple(map(tuple, centres.tolist())), h, tuple(coords.min(axis=0).tolist()),
                    tuple(coords.max(axis=0).tolist()))
        mean = np.asarray(basis.raw_phi(coords)).mean(axis=0)
        return cls(basis.centres, h, basis.lower, basis.upper, tuple(mean.tolist()))

    # ------------------------------------------------------------------ geometry
    @property
    def size(self) -> int:
        return len(self.centres)

    @property
    def n_basis(self) -> tuple:
        return (self.size,)

    def raw_phi(self, coords):
        """(n, size) the bumps at ``coords`` (coordinate units), not centred."""
        x = jnp.asarray(coords)
        d2 = jnp.sum((x[:, None, :] - jnp.asarray(self.centres)[None]) ** 2, axis=-1)
        return jnp.exp(-0.5 * d2 / self.width ** 2)

    def phi(self, coords):
        """(n, size) centred bumps at ``coords`` (coordinate units)."""
        return self.raw_phi(coords) - jnp.asarray(self.basis_mean)

    def check_inside(self, coords: np.ndarray, labels) -> None:
        """Raise DataError naming the first location beyond BOX_MARGIN widths outside the training range."""
        x = np.asarray(coords, dtype=float)
        margin = BOX_MARGIN * self.width
        out = np.flatnonzero(((x < np.asarray(self.lower) - margin) | (x > np.asarray(self.upper) + margin)).any(axis=1))
        if len(out):
            raise DataError(f"unit '{labels[out[0]]}' lies at {x[out[0]].tolist()}, outside the region the "
                            f"smooth factors are defined on (the training range plus {BOX_MARGIN:g} bump widths, "
                            f"{margin:.3g} coordinate units); they cannot be extrapolated that far.")

    def shortest_lengthscale(self) -> float:
        """sqrt(2) l0: the bumps' own correlation range, the shortest lengthscale represented."""
        return float(np.sqrt(2.0) * self.width)

    # ------------------------------------------------------------------ weight prior
    def weight_roots(self, lengthscales) -> np.ndarray:
        """(L, M, M) symmetric roots R_l = (a_l K_w)^{1/2} of the weights' prior covariance for
        ``lengthscales`` (L,) in coordinate units (numpy, float64; module docstring)."""
        u = np.asarray(self.centres)
        d2 = np.sum((u[:, None, :] - u[None]) ** 2, axis=-1)
        phi_uu = np.exp(-0.5 * d2 / self.width ** 2)
        phi2 = phi_uu @ phi_uu                                                  # Var f at the lattice: tr(K_w phi2) / M
        out = np.empty((len(np.atleast_1d(lengthscales)), self.size, self.size))
        for i, ls in enumerate(np.atleast_1d(np.asarray(lengthscales, dtype=float))):
            lw2 = ls ** 2 - 2.0 * self.width ** 2
            kw = np.exp(-0.5 * d2 / lw2) if lw2 > 1e-12 * ls ** 2 else np.eye(self.size)
            a = self.size / float(np.sum(kw * phi2))
            vals, vecs = np.linalg.eigh(kw)
            out[i] = (vecs * np.sqrt(np.maximum(a * vals, 0.0))) @ vecs.T
        return out

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ConvolutionBasis:
        d = json.loads(text)
        d["centres"] = tuple(tuple(c) for c in d["centres"])
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
