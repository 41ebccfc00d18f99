"""Spatially smooth factors: a Hilbert-space GP factor prior over the subjects' coordinates.

For factor k and a subject at location s (1-3 coordinates; MEFISTO, Velten et al. 2022, Nat Methods
19:179, eq. 1-2, with its "scale" parameter):

    z_k(s) = sqrt(scale_k) f_k(s) + sqrt(1 - scale_k) e_k(s),   e_k(s) ~ N(0, 1) independently,
    f_k(s) = sum_j phic_j(s) sqrt(S(omega_j; lengthscale_k)) gp_z_jk,   gp_z_jk ~ N(0, 1),

f_k a unit-amplitude squared-exponential GP in the Hilbert-space approximation of Solin & Särkkä
(2020, Stat Comput 30:419) with the non-centred weights and basis-size rule of Riutort-Mayol et al.
(2023, Stat Comput 33:17), the basis being :class:`rgfactor.generative.hsgp.HSGPBasis` (centred over
the training subjects, so the smooth part cannot trade off with the views' intercepts). ``scale_k`` in
[0, 1] is the share of the factor's prior variance that is spatial: 0 is an ordinary N(0, 1) factor,
1 a purely smooth one; the prior variance of z_k(s) stays 1 (up to the HSGP approximation), as under
the normal prior, so ARD precisions and loadings keep their meaning and smooth and non-smooth factors
mix in one model.

``gp_basis='convolution'`` replaces the HSGP by a discrete process convolution (Gaussian bumps on a lattice,
correlated weights: :mod:`rgfactor.generative.conv_basis`), f_k(s) = sum_j phic_j(s) (R_l gp_z_k)_j with R_l a
dense root of the weights' prior covariance; it reaches lengthscales of a few location spacings over a 2-D
section and is fitted by the closed-form engine only.

Priors: lengthscale_k ~ InverseGamma with 1% of its mass below and above ``lengthscale_range``
(Betancourt 2017; :func:`rgfactor.generative.hsgp.inverse_gamma_from_quantiles`), scale_k ~
Uniform(0, 1 - SCALE_GAP): the independent part keeps at least SCALE_GAP of the variance, because the
HSGP covariance Phi S Phi^T has rank at most the basis size, and z given f would otherwise have a
degenerate density.

Parameterisations (``engine``):

* 'svi' and 'cavi': Z is sampled given the smooth part, z_nk ~ N(sqrt(scale_k) f_k(s_n), 1 - scale_k) (centred in
  Z, non-centred in the basis weights). Mean-field q(Z) then is the usual factor-model family, and the
  weights are a regression of Z on the basis, well conditioned. The closed-form engine's updates are
  in :mod:`rgfactor.generative.gp_factors_cavi`.
* 'nuts': fully non-centred, Z = sqrt(scale) f + sqrt(1 - scale) Z_raw, Z_raw ~ N(0, 1) (Z a
  deterministic site), which avoids the funnel of the centred form as scale -> 1. NUTS runs with a
  dense mass-matrix block over (scale, lengthscale) and target acceptance 0.95
  (:attr:`GPFactors.nuts_dense_mass`, :attr:`GPFactors.nuts_target_accept`). Measured on 80 subjects
  over one coordinate, 5 seeds (benchmarks/results/gp_factors_nuts.md): 0-2 divergent transitions
  and max R-hat 1.02-1.05 per fit (one seed 1.15), against 1-3 divergences at the default (diagonal, 0.9) and up to
  16 divergences, R-hat 1.12, with 0.95 alone. A non-smooth factor's (scale, lengthscale) posterior is
  L-shaped (small scale at any lengthscale, or a large scale at a lengthscale short enough to mimic
  independent noise), which a diagonal mass matrix crosses slowly. Centred forms mixed worse:
  integrating the weights out with Z centred (the low-rank-plus-diagonal marginal, by Woodbury) gave
  max R-hat 1.38, the SVI form 1.16, because the smooth factor's rough directions are prior-dominated
  (variance 1 - scale: a funnel when centred) and a non-smooth factor's Z is weakly informed (git
  history: the reverted marginal form). What stays slow is intrinsic: a smooth factor's amplitude
  against its loadings (few effective degrees of freedom along the coordinate pin the factor's
  empirical variance loosely).

The reported ``gp_weight`` (basis, factor) = sqrt(scale_k) sqrt(S_jk) gp_z_jk is the smooth part in
the basis, Phi gp_weight = sqrt(scale) f: it interpolates factors to new locations, and the prior of a
new subject's z given the fit is N(phi(s) gp_weight, 1 - scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy import special

from rgfactor.errors import DataError, SpecError
from rgfactor.generative.conv_basis import MAX_CONV_BASIS, ConvolutionBasis
from rgfactor.generative.gp_factors_cavi import GPFactorsCavi
from rgfactor.generative.hsgp import HSGPBasis, basis_rule, inverse_gamma_from_quantiles, prior_median_lengthscale
from rgfactor.generative.variables import FACTOR_COEF, FACTOR_SCALE, HELPER, Role, Variable

SCALE_GAP = 1e-3
# the default lengthscale_range (default_lengthscale_range): the upper end is the largest coordinate
# range; the lower end is NN_MULTIPLE median nearest-neighbour distances, at most LOWER_FRACTION of that
# range, and at least what a basis of MAX_BASIS functions resolves (Riutort-Mayol et al. 2023, eq. 19-21)
NN_MULTIPLE = 3.0
LOWER_FRACTION = 0.1
MAX_BASIS = 441   # 21 x 21 in 2-D: with the box at BOX_QUANTILE, 0.1 x range is resolved
# the HSGP box holds this quantile of the lengthscale prior over box_range (Riutort-Mayol et al.'s c >= 3.2 l
# / S at l = the upper quartile): with the median (before), a lengthscale of 0.8 x range was estimated at 0.39
# by the collapsed update, 0.73 with the box at c = 2.5 (benchmarks/results/gp_factors_box.md)
BOX_QUANTILE = 0.75
GP_BASES = ("hsgp", "convolution")

# Z is signed with its factor but not rotatable: a rotation mixes factors of different lengthscales
Z = Variable("Z", ("subject", "factor"), Role.REPORTED | Role.FACTOR | Role.SIGNED, "latent factors")
LENGTHSCALE = Variable("lengthscale", ("factor",), FACTOR_SCALE, "GP lengthscale of each factor (coordinate units)")
SCALE = Variable("scale", ("factor",), FACTOR_SCALE,
                 "share of the factor's prior variance that is spatial (MEFISTO's scale), in [0, 1]")
GP_WEIGHT = Variable("gp_weight", ("basis", "factor"), FACTOR_COEF,
                     "smooth part in the basis: Phi gp_weight = sqrt(scale) f (factor units)")
GP_Z = Variable("gp_z", ("basis", "factor"), HELPER, "non-centred basis weights, N(0, 1)")
Z_RAW = Variable("Z_raw", ("subject", "factor"), HELPER, "NUTS: the independent part of Z, N(0, 1)")


@partial(jax.jit, static_argnums=0)
def _smooth_weights(basis: HSGPBasis, gp_z, lengthscale, scale):
    # compiled once: eager evaluation (NumPyro's initialisation, draws) would compile the spectral
    # density's many small operations one by one
    sd = basis.sqrt_spectral_density(lengthscale)                   # (..., K, size)
    return jnp.sqrt(scale)[..., None, :] * jnp.swapaxes(sd, -1, -2) * gp_z


def median_neighbour_distance(coords: np.ndarray) -> float:
    """Median distance from each distinct location to its nearest other location (coordinate units)."""
    from scipy.spatial import cKDTree

    u = np.unique(np.asarray(coords, dtype=float), axis=0)
    d, _ = cKDTree(u).query(u, k=2)
    return float(np.median(d[:, 1]))


def box_range(lower: float, upper: float, span: float) -> tuple[float, float]:
    """The lengthscale range whose prior's BOX_QUANTILE sets the HSGP box (boundary factor): the prior's,
    with its lower end raised to LOWER_FRACTION x span. A short lower end then adds basis functions but does
    not shrink the box, which must hold the long lengthscales too (Riutort-Mayol et al. 2023: c >= 3.2
    l / S for the lengthscale l estimated; a smaller box biases long lengthscales down)."""
    return max(lower, min(LOWER_FRACTION * span, 0.5 * upper)), upper


def _basis_size(half: np.ndarray, distinct: list, lower: float, upper: float) -> int:
    """Functions of the default basis (:func:`gp_factor_settings`) for a lengthscale_range, given the
    coordinates' half-ranges and numbers of distinct values."""
    scale = float(half.max())
    m, _ = basis_rule("squared_exponential", half / scale, lower / scale,
                      prior_median_lengthscale(box_range(lower, upper, 2 * scale), BOX_QUANTILE) / scale)
    return int(np.prod([max(1, min(mj, nd - 1)) for mj, nd in zip(m, distinct)]))


def default_lengthscale_range(coords: np.ndarray) -> tuple[float, float]:
    """The default ``lengthscale_range`` (coordinate units) for training coordinates ``coords`` (n, D).

    * upper: the largest coordinate range. Longer lengthscales give near-linear trends over the data,
      which the data barely tell apart (the 1% upper prior quantile sits there).
    * lower: :data:`NN_MULTIPLE` (3) times the median nearest-neighbour distance between locations, the
      shortest correlation range the data sample densely (at 3 spacings neighbours correlate 0.95; a GP
      with a shorter lengthscale is hard to tell from independent noise), but
      - at most :data:`LOWER_FRACTION` (0.1) of the range: sparse designs (tens of locations) keep the
        earlier default, a 1% prior quantile being no hard limit;
      - at least the shortest lengthscale a basis of :data:`MAX_BASIS` (441) functions resolves by
        Riutort-Mayol et al.'s rule (2023, Stat Comput 33:17, eq. 19-21) in the box that holds the
        prior's upper quartile (:data:`BOX_QUANTILE`): the closed-form update costs O(M^3) per factor and
        sweep. In 2-D this is ~0.1 of the range; dense 1-D data reach 3 spacings. A basis of M functions
        per coordinate holds lengthscales over a ratio of about M / 5.6 by that rule (estimates stay
        close about twice beyond it on either side, benchmarks/results/gp_factors_box.md): in 2-D the
        default cannot hold both 0.05 and 0.8 of the range, and it favours the long end; pass
        ``lengthscale_range`` (and ``n_basis``) for structure finer than 0.1 of the range.

    MEFISTO (Velten et al. 2022) instead searches lengthscales from half the smallest to twice the
    largest pairwise distance (SpatialDE's grid), affordable for its full GP, not for a basis whose size
    grows as (range / lower)^D. On osmFISH (5,328 cells, cortical layers a few hundred microns thick)
    the earlier default (0.1 x range) left the fitted lengthscales at its bottom; 0.05 x range gave a
    better layer separation (benchmarks/results/gp_factors_osmfish.md).
    """
    coords = np.asarray(coords, dtype=float)
    span = float(np.ptp(coords, axis=0).max())
    lower = min(NN_MULTIPLE * median_neighbour_distance(coords), LOWER_FRACTION * span)
    half, distinct = np.ptp(coords, axis=0) / 2.0, [len(np.unique(c)) for c in coords.T]
    if _basis_size(half, distinct, lower, span) > MAX_BASIS:   # in 3-D the cap may not be met below span / 2
        grid = np.geomspace(lower, 0.5 * span, 200)
        lower = float(next((g for g in grid if _basis_size(half, distinct, g, span) <= MAX_BASIS), grid[-1]))
    return lower, span


def gp_factor_settings(coords: np.ndarray, lengthscale_range=None, n_basis=None, gp_basis: str = "hsgp") -> dict:
    """The settings of :class:`GPFactors` for training coordinates ``coords`` (n, D).

    Parameters
    ----------
    coords : (n, D) training coordinates (coordinate units).
    lengthscale_range : (lower, upper) lengthscales in coordinate units holding 98% of the prior mass;
        None: :func:`default_lengthscale_range` (HSGP), or for the process-convolution basis from 3 median
        nearest-neighbour distances (at least what its lattice resolves) to the largest range.
    n_basis : HSGP: basis functions per coordinate (int or one per coordinate); None: the rule of
        :func:`rgfactor.generative.hsgp.basis_rule` for the lower lengthscale. Process convolution: the
        most lattice points (None: :data:`rgfactor.generative.conv_basis.MAX_CONV_BASIS`).
    gp_basis : 'hsgp' (default; every engine) or 'convolution' (:mod:`rgfactor.generative.conv_basis`:
        short lengthscales over many 2-D locations; the closed-form engine only).

    Returns
    -------
    dict: ``basis`` (the basis's JSON) and ``lengthscale_prior`` (a, b) of the inverse gamma.

    Raises
    ------
    SpecError  for a lengthscale_range not 0 < lower < upper, a bad n_basis or an unknown gp_basis.
    """
    coords = np.asarray(coords, dtype=float)
    span = float(np.ptp(coords, axis=0).max())
    if gp_basis not in GP_BASES:
        raise SpecError(f"unknown gp_basis '{gp_basis}'; choose one of {list(GP_BASES)}.")
    if lengthscale_range is not None and len(tuple(lengthscale_range)) != 2:
        raise SpecError(f"lengthscale_range must be (lower, upper), got {lengthscale_range}.")
    if gp_basis == "convolution":
        lo, hi = ((NN_MULTIPLE * median_neighbour_distance(coords), span) if lengthscale_range is None
                  else (float(v) for v in lengthscale_range))
        if n_basis is not None and (np.ndim(n_basis) != 0 or int(n_basis) < 1):
            raise SpecError(f"n_basis of gp_basis='convolution' is the most lattice points (one int >= 1), got {n_basis}.")
        inverse_gamma_from_quantiles(lo, hi)        # SpecError for a range not 0 < lower < upper
        basis = ConvolutionBasis.from_coordinates(coords, lo, MAX_CONV_BASIS if n_basis is None else int(n_basis))
        if lengthscale_range is None:
            lo = max(lo, basis.shortest_lengthscale())
        a, b = inverse_gamma_from_quantiles(lo, hi)
        return {"basis": basis.to_json(), "lengthscale_prior": (float(a), float(b))}
    if lengthscale_range is None:
        lengthscale_range = default_lengthscale_range(coords)
    lo, hi = (float(v) for v in lengthscale_range)
    a, b = inverse_gamma_from_quantiles(lo, hi)
    # the basis takes the range in its scaled units (fractions of the largest half-range); the box holds
    # the median of box_range, the basis resolves the lower end
    box = box_range(lo, hi, span)
    basis = HSGPBasis.from_coordinates(coords, "squared_exponential", (2 * box[0] / span, 2 * box[1] / span),
                                       n_basis=n_basis, resolve=2 * lo / span, box_quantile=BOX_QUANTILE)
    return {"basis": basis.to_json(), "lengthscale_prior": (float(a), float(b))}


def basis_from_json(text: str) -> HSGPBasis | ConvolutionBasis:
    """The GP factors' basis from its JSON (``ModelConfig.gp_basis``)."""
    return ConvolutionBasis.from_json(text) if json.loads(text).get("kind") == "convolution" else HSGPBasis.from_json(text)


@dataclass(frozen=True)
class GPFactors(GPFactorsCavi):
    """Factor prior with a per-factor smooth part over the subjects' coordinates (module docstring).

    Attributes
    ----------
    basis : the basis fitted on the training coordinates: an :class:`HSGPBasis` (squared exponential) or
        a :class:`rgfactor.generative.conv_basis.ConvolutionBasis` (closed-form engine only).
    lengthscale_prior : (a, b) of the inverse-gamma prior of lengthscale_k (coordinate units).

    The model data must hold ``coordinates`` (subject, coordinate), as :func:`rgfactor.generative.model.
    model_data` writes them from the data layer.
    """

    basis: HSGPBasis | ConvolutionBasis
    lengthscale_prior: tuple
    rotation_invariant = False
    # NUTS (module docstring): a dense mass-matrix block over the factors' (scale, lengthscale), and a
    # higher target acceptance than the default 0.9 (divergences there)
    nuts_dense_mass = (("scale", "lengthscale"),)
    nuts_target_accept = 0.95

    @property
    def engines(self) -> frozenset:
        """The basis's: every engine on the HSGP basis, the closed form alone on the process-convolution basis
        (its weights' prior needs an M x M eigendecomposition per lengthscale, :mod:`rgfactor.generative.conv_basis`)."""
        return self.basis.engines

    def variables(self) -> tuple[Variable, ...]:
        return (Z, LENGTHSCALE, SCALE, GP_WEIGHT, GP_Z, Z_RAW)

    def weight_roots(self, lengthscales):
        """For each of ``lengthscales`` (L,), the root R_l of the basis weights' prior covariance (numpy,
        float64): (M,) sqrt spectral densities (HSGP, a diagonal root) or (M, M) (process convolution)."""
        return self.basis.weight_roots(lengthscales)

    # ------------------------------------------------------------------ priors
    def lengthscale_dist(self):
        return dist.InverseGamma(*self.lengthscale_prior)

    def scale_dist(self):
        return dist.Uniform(0.0, 1.0 - SCALE_GAP)

    def prepare_data(self, data: dict) -> dict:
        """``data`` with the centred basis at the subjects' coordinates, ``gp_phi`` (n, size), evaluated
        once outside the engines' compiled steps."""
        return {**data, "gp_phi": self.phi(data)}

    def phi(self, data: dict):
        """(n, size) centred basis at the subjects' coordinates (``gp_phi`` when prepared)."""
        if "gp_phi" in data:
            return data["gp_phi"]
        if "coordinates" not in data:
            raise DataError("factor_prior='gp' needs the subjects' coordinates: pass coordinates= to "
                            "MultiViewData.from_pandas.")
        return self.basis.phi(data["coordinates"])

    def smooth_weights(self, gp_z, lengthscale, scale):
        """(..., size, K) gp_weight from gp_z (..., size, K), lengthscale (..., K), scale (..., K) (HSGP basis)."""
        return _smooth_weights(self.basis, gp_z, lengthscale, scale)

    # ------------------------------------------------------------------ NumPyro
    def sample(self, n_subjects: int, n_factors: int, data: dict, engine: str):
        """Sample ``Z`` (n_subjects, n_factors) and the GP globals; returns (Z, {}). 'svi' and 'cavi'
        (the conjugate form of :mod:`rgfactor.generative.gp_factors_cavi`): Z centred given the smooth
        part; 'nuts': non-centred. HSGP basis only (SpecError for the process-convolution basis)."""
        if "svi" not in self.engines:   # the NumPyro program needs the HSGP's spectral weights
            raise SpecError("gp_basis='convolution' is fitted by the closed-form engine only (method='cavi'); use "
                            "gp_basis='hsgp' for method='svi' or 'nuts'.")
        with numpyro.plate("factor", n_factors, dim=-1):
            ls = numpyro.sample("lengthscale", self.lengthscale_dist())
            scale = numpyro.sample("scale", self.scale_dist())
            with numpyro.plate("basis", self.basis.size, dim=-2):
                weights = self.smooth_weights(numpyro.sample("gp_z", dist.Normal(0.0, 1.0)), ls, scale)
        loc = self.phi(data) @ weights                                          # (n, K)
        sd = jnp.sqrt(1.0 - scale)
        with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
            if engine == "nuts":
                raw = numpyro.sample("Z_raw", dist.Normal(0.0, 1.0))
                return numpyro.deterministic("Z", loc + sd * raw), {}
            return numpyro.sample("Z", dist.Normal(loc, sd)), {}

    def _conditional(self, data: dict, params: dict):
        loc = self.phi(data) @ jnp.asarray(params["gp_weight"])
        return loc, 1.0 - jnp.asarray(params["scale"])

    def log_density(self, z, data: dict, params: dict | None = None):
        """log p(Z | globals) of new subjects: z_nk ~ N(phi(s_n) gp_weight_k, 1 - scale_k), at the
        posterior means ``params`` of gp_weight and scale."""
        loc, var = self._conditional(data, params)
        return jnp.sum(dist.Normal(loc, jnp.sqrt(var)).log_prob(z))

    def log_density_derivatives(self, z, data: dict, params: dict | None = None):
        """Gradient (n, K) and Hessian blocks (n, K, K) of :meth:`log_density` in z."""
        loc, var = self._conditional(data, params)
        n, k = z.shape
        return -(z - loc) / var, jnp.broadcast_to(-jnp.diag(1.0 / var), (n, k, k))

    def derive(self, draws: dict) -> dict:
        """gp_weight from the sampled gp_z, lengthscale and scale (reported; gp_z is a helper). The closed
        form draws gp_weight itself."""
        if "gp_z" not in draws or "gp_weight" in draws:
            return draws
        out = dict(draws)
        out["gp_weight"] = np.asarray(self.smooth_weights(jnp.asarray(draws["gp_z"]), jnp.asarray(draws["lengthscale"]),
                                                          jnp.asarray(draws["scale"])))
        return out

    def init_values(self, values: dict, engine: str) -> dict:
        """The PCA start of Z (Z itself under SVI, the non-centred Z_raw under NUTS); the GP globals at
        their prior medians (scale 1/2, lengthscale the inverse gamma's median) and gp_z = 0, given
        explicitly so that the engines need no Monte Carlo medians of them."""
        values = dict(values)
        if "Z" in values:
            k = np.shape(values["Z"])[-1]
            a, b = self.lengthscale_prior
            values.setdefault("lengthscale", np.full(k, b / special.gammaincinv(a, 0.5)))
            values.setdefault("scale", np.full(k, 0.5 * (1.0 - SCALE_GAP)))
            values.setdefault("gp_z", np.zeros((self.basis.size, k)))
            if engine == "nuts":
                values["Z_raw"] = values.pop("Z")
        return values

    # ------------------------------------------------------------------ interpolation
    def smooth_part(self, coords, gp_weight):
        """(..., n, K) the smooth part sqrt(scale) f at ``coords`` (n, D) from gp_weight (..., size, K)."""
        return jnp.einsum("nj,...jk->...nk", self.basis.phi(jnp.asarray(coords)), jnp.asarray(gp_weight))
