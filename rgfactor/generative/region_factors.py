"""Multi-region factors: subject-level factors plus a smooth within-subject deviation over regions.

Data (:mod:`rgfactor.data.regions`): subjects s = 1..S, each with regions r = 1..R at a region
coordinate x_sr (e.g. the depth of a tumour shell); subject-level views (gene expression) have one row
per subject, region-level views (imaging per shell) one row per (subject, region). For factor k:

    Z_k = standardise(Z_raw_k),  Z_raw_sk ~ N(0, 1)                  subject-level factor
    Z_region_srk = sqrt(rho_b,k) Z_sk + t_k(x_sr) + sqrt(rho_w,k) f_sk(x_sr) + sqrt(rho_e,k) e_srk
    t_k(x)  = trend_sd_k g_k(x)          population trend over the coordinate, shared by all subjects
    f_sk, g_k ~ GP(0, k_SE(x, x'; lengthscale_k)) / c_k, within-subject centred, independent across subjects
    e_srk ~ N(0, 1)                                                   independent regional part
    (rho_b,k, rho_w,k, rho_e,k) = region_scale_k ~ Dirichlet(1, 1, 1),  trend_sd_k ~ HalfNormal(1)

Subject-level views load on Z, region-level views on Z_region (one loading matrix per view, shared by
the regions). This is MEFISTO's GP factor (Velten et al. 2022, Nat Methods 19:179, eq. 1-2: a factor
is sqrt(scale) x smooth GP + sqrt(1 - scale) x noise) made hierarchical: the GP lives within each
subject, on top of a subject random effect, as in functional mixed models (Guo 2002, Biometrics
58:121; subject curves = population mean curve + subject deviation curves sharing a kernel). The GPs
are Hilbert-space approximations (Solin & Särkkä 2020; Riutort-Mayol et al. 2023) on
:class:`rgfactor.generative.hsgp.HSGPBasis`: f_sk(x) = sum_j phi_j(x) sqrt(S_j(lengthscale_k)) gp_z_sjk.

Identifiability. The basis is **centred within each subject** (phi_j(x_sr) minus its mean over the
subject's observed regions), so t and f are within-subject contrasts: a GP with a long lengthscale is
nearly constant over a subject's regions and would otherwise copy the subject level Z (the between/
within split would be arbitrary). The trend t_k is separate from the per-subject curves because a
systematic core-to-rim change of a factor is a population effect, not subject variation, and would
otherwise inflate the smooth share of every subject. With few regions per subject (3 shells) the
within-subject contrast has R - 1 = 2 dimensions, and smooth vs independent deviation are told apart
only through how the variance falls on the linear vs the curved contrast: expect wide intervals for
that split, and a prior-dominated lengthscale (the between-subject share and the trend are well
informed).

Scale and location (the NUTS geometry, measured in benchmarks/results/region_factors_recovery.md).
Z_k is Z_raw_k centred and scaled to unit variance over the subjects (:func:`standardise_subjects`; a
uniform direction on the sphere, the usual factor-analysis constraint mean 0, variance 1, in place of
iid N(0, 1) draws whose sample mean and variance float by O(1/sqrt(S))). Under iid N(0, 1), the mean of
Z_k traded against the intercepts of every view (eta = b_d + w_d z: mean(Z) + delta, b_d - w_d delta;
posterior correlation up to 0.98) and its scale against the loadings (Z c, W / c), ridges through
hundreds of coordinates pinned only by the prior, which NUTS with a diagonal mass crossed at max tree
depth without mixing (R-hat 1.4-2.0 on the intercepts, Z and W). c_k is the root mean square, over
the observed (subject, region) pairs, of the within-subject centred unit-amplitude GP
(``phi_var``, :func:`region_factor_settings`): without it a long-lengthscale curve is nearly constant
within a subject, its centred variance nearly 0, and a share rho_w with a long lengthscale was dead
mass that shrank Z_region against the region-level loadings (a second scale ridge; between NUTS
chains rho_w 0.48 at lengthscale 3.3 vs 0.13 at 1.7 for a factor without a smooth part). With c_k, rho
are the parts' expected shares of Z_region's variance over the observed pairs, and trend_sd the
trend's root mean square there. Fits saved without ``phi_var`` are read unnormalised.

Reported shares (:func:`variance_shares`): per factor and draw, the finite-population variances of the
four parts of Z_region over the observed (subject, region) pairs (Gelman 2005, Ann Stat 33:1, sec. 3.5,
finite-population standard deviations), normalised to sum 1: between subjects (sqrt(rho_b) Z),
population trend (t), smooth within-subject (sqrt(rho_w) f), independent (sqrt(rho_e) e). Unlike
the prior shares rho these account for the centring and the kernel's variance at the observed
coordinates.

Parameterisations: 'svi' samples Z_region given the other parts (centred, a latent site of the
mean-field guide); 'nuts' is non-centred (Z_region deterministic from region_raw ~ N(0, 1)). The
centred form under NUTS took 4x larger steps on a simulated cohort (the non-centred one ties each Z_sk
to its regions' raw parts: posterior correlation -0.5 to -0.8) but on the LGG shells, where imaging
factors have an independent share near 0, it fell into the funnel of rho_e (73 divergent transitions,
chains in different modes, R-hat 2.5). NUTS uses a dense mass block over (region_simplex, lengthscale)
and target acceptance 0.95 (:attr:`RegionFactors.nuts_dense_mass`, ``nuts_target_accept``), as the GP
factor prior does for its L-shaped (scale, lengthscale) posterior. The closed-form engine has no update
for this prior (``engines``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy import special

from rgfactor.dims import FACTOR, REGION, SUBJECT
from rgfactor.errors import DataError, SpecError
from rgfactor.generative.components import NUMPYRO_ENGINES
from rgfactor.generative.hsgp import HSGPBasis
from rgfactor.generative.variables import FACTOR_COEF, FACTOR_SCALE, HELPER, Role, Variable

REGION_COMPONENT = "region_component"
# the Dirichlet parts of region_scale, and the four parts of the reported finite-population shares
PRIOR_PARTS = ("between_subject", "smooth_within", "independent")
SHARE_PARTS = ("between_subject", "population_trend", "smooth_within", "independent")
MIN_SHARE = 1e-3   # the independent part keeps a floor: Z_region | rest has a proper density (SVI)

_SIGNED = Role.REPORTED | Role.FACTOR | Role.SIGNED    # signed with the factor, not rotatable
Z = Variable("Z", (SUBJECT, FACTOR), _SIGNED, "subject-level factors (subject-level views load on them)")
Z_REGION = Variable("Z_region", (SUBJECT, REGION, FACTOR), _SIGNED,
                    "region-level factors (region-level views load on them)")
LENGTHSCALE = Variable("lengthscale", (FACTOR,), FACTOR_SCALE, "GP lengthscale over the region coordinate")
REGION_SCALE = Variable("region_scale", (REGION_COMPONENT, FACTOR), FACTOR_SCALE,
                        "prior shares (between subject, smooth within, independent) of Z_region, Dirichlet")
TREND_SD = Variable("trend_sd", (FACTOR,), FACTOR_SCALE, "amplitude of the population trend over the coordinate")
REGION_WEIGHT = Variable("region_weight", (SUBJECT, "basis", FACTOR), FACTOR_COEF,
                         "each subject's smooth deviation in the basis (sqrt(rho_w) f = Phi_s region_weight_s)")
TREND_WEIGHT = Variable("trend_weight", ("basis", FACTOR), FACTOR_COEF, "population trend in the basis")
REGION_SIMPLEX = Variable("region_simplex", (FACTOR, REGION_COMPONENT), HELPER, "region_scale as sampled")
GP_Z = Variable("region_gp_z", (SUBJECT, "basis", FACTOR), HELPER, "non-centred subject curve weights")
TREND_Z = Variable("trend_z", ("basis", FACTOR), HELPER, "non-centred trend weights")
REGION_RAW = Variable("region_raw", (SUBJECT, REGION, FACTOR), HELPER, "NUTS: independent part, N(0, 1)")
Z_RAW = Variable("Z_raw", (SUBJECT, FACTOR), HELPER, "subject-level factors before centring over the subjects")


def within_subject_spacing(coords: np.ndarray, n_regions: int) -> float:
    """Median over subjects of the median distance from a region to its nearest other region of the
    same subject (coordinate units); ``coords`` (S * R, D) on the (subject, region) grid."""
    x = np.asarray(coords, dtype=float).reshape(-1, n_regions, np.shape(coords)[-1])
    d = np.sqrt(((x[:, :, None, :] - x[:, None, :, :]) ** 2).sum(-1))
    d[:, np.arange(n_regions), np.arange(n_regions)] = np.inf
    nearest = d.min(-1)
    nearest = np.where(np.isfinite(nearest) & (nearest > 0), nearest, np.nan)
    return float(np.nanmedian(np.nanmedian(nearest, axis=1)))


def region_factor_settings(coords: np.ndarray, n_regions: int, lengthscale_range=None, n_basis=None,
                           observed=None) -> dict:
    """Basis and lengthscale prior of :class:`RegionFactors` for region coordinates ``coords``
    (S * R, D) on the (subject, region) grid.

    Default ``lengthscale_range`` (98% of the inverse-gamma prior): from the median spacing of a
    subject's regions (:func:`within_subject_spacing`: a curve varying faster than a subject's regions
    are spaced is independent noise on them) to twice the coordinate range (longer: a near-linear
    within-subject trend). ``observed`` (S, R) bool: the pairs with data (default all). Returns dict
    ``basis`` (HSGPBasis JSON), ``lengthscale_prior`` (a, b) and ``phi_var`` (size,): the mean square of
    each within-subject centred basis function over the observed pairs (:class:`RegionFactors`).

    Raises
    ------
    SpecError  for a lengthscale_range not 0 < lower < upper.
    """
    from rgfactor.generative.gp_factors import gp_factor_settings

    u = np.unique(np.asarray(coords, dtype=float), axis=0)
    if lengthscale_range is None:
        span = float(np.ptp(u, axis=0).max())
        lengthscale_range = (within_subject_spacing(coords, n_regions), 2.0 * span)
    lo, hi = (float(v) for v in lengthscale_range)
    if not 0 < lo < hi:
        raise SpecError(f"lengthscale_range must be 0 < lower < upper, got {lengthscale_range}.")
    out = gp_factor_settings(u, (lo, hi), n_basis)
    x = np.asarray(coords, dtype=float)
    seen = np.ones((x.shape[0] // n_regions, n_regions), bool) if observed is None else np.asarray(observed, bool)
    phi = np.asarray(_within_subject_phi(HSGPBasis.from_json(out["basis"]), jnp.asarray(x), jnp.asarray(seen)))
    out["phi_var"] = tuple(float(v) for v in (phi ** 2)[seen].mean(0))
    return out


@partial(jax.jit, static_argnums=0)
def _within_subject_phi(basis: HSGPBasis, coords, observed):
    s, r = observed.shape
    phi = basis.raw_phi(coords).reshape(s, r, -1)
    w = observed.astype(phi.dtype)[..., None]
    mean = (phi * w).sum(1, keepdims=True) / jnp.maximum(w.sum(1, keepdims=True), 1.0)
    return phi - mean


def _shares(simplex):
    return MIN_SHARE + (1.0 - 3 * MIN_SHARE) * simplex


def _weight_sd(basis: HSGPBasis, lengthscale, phi_var):
    """sd of the basis weights of the unit-variance smooth parts, (..., size, K): the HSGP weight sd
    divided by the rms over the observed pairs of the within-subject centred curve it gives (``phi_var``,
    None: not normalised)."""
    sd = jnp.swapaxes(basis.sqrt_spectral_density(lengthscale), -1, -2)
    if phi_var is None:
        return sd
    return sd / jnp.sqrt((phi_var[:, None] * sd ** 2).sum(-2, keepdims=True) + 1e-12)


# compiled once: evaluated eagerly (NumPyro's initialisation, draws), the spectral density's many small
# operations would each be compiled on their own (~800 compilations, ~55 s, measured)
@partial(jax.jit, static_argnums=0)
def _region_mean(basis: HSGPBasis, phi, z, ls, trend_sd, trend_z, gp_z, simplex, phi_var):
    """Z_region's mean given its independent part, (S, R, K), and that part's sd (K,)."""
    rho = _shares(simplex)                                           # (K, 3)
    sd = _weight_sd(basis, ls, phi_var)                                     # (m, K)
    loc = (jnp.sqrt(rho[:, 0]) * z)[:, None, :] + jnp.einsum("srm,mk->srk", phi, trend_sd * sd * trend_z) \
        + jnp.einsum("srm,smk->srk", phi, jnp.sqrt(rho[:, 1]) * sd * gp_z)
    return loc, jnp.sqrt(rho[:, 2])


@partial(jax.jit, static_argnums=0)
def _derived_weights(basis: HSGPBasis, ls, trend_sd, trend_z, gp_z, simplex, phi_var):
    rho = _shares(simplex)                                           # (..., K, 3)
    sd = _weight_sd(basis, ls, phi_var)                                     # (..., m, K)
    return (jnp.swapaxes(rho, -1, -2), trend_sd[..., None, :] * sd * trend_z,
            jnp.sqrt(rho[..., 1])[..., None, None, :] * sd[..., None, :, :] * gp_z)


@dataclass(frozen=True)
class RegionFactors:
    """Subject-level factors plus a smooth within-subject deviation over regions (module docstring).

    Attributes
    ----------
    basis : HSGPBasis (squared exponential) over the region coordinate.
    lengthscale_prior : (a, b) of the inverse-gamma prior of lengthscale_k (coordinate units).
    n_regions : R, the regions of the (subject, region) grid.
    region_views : the views whose rows are (subject, region) pairs.
    """

    basis: HSGPBasis
    lengthscale_prior: tuple
    n_regions: int
    region_views: tuple
    phi_var: tuple = ()
    engines = NUMPYRO_ENGINES
    nuts_dense_mass = ((REGION_SIMPLEX.name, LENGTHSCALE.name),)
    nuts_target_accept = 0.95
    rotation_invariant = False
    coords = {REGION_COMPONENT: list(PRIOR_PARTS)}   # labels of the dims this prior adds to InferenceData

    def variables(self) -> tuple[Variable, ...]:
        return (Z, Z_REGION, LENGTHSCALE, REGION_SCALE, TREND_SD, REGION_WEIGHT, TREND_WEIGHT, REGION_SIMPLEX,
                GP_Z, TREND_Z, REGION_RAW, Z_RAW)

    def _phi_var(self):
        return jnp.asarray(self.phi_var) if self.phi_var else None

    def factor_name(self, view: str) -> str:
        """The factors ``view`` loads on: 'Z_region' for a region-level view, else 'Z'."""
        return Z_REGION.name if view in self.region_views else Z.name

    def n_subjects(self, data: dict) -> int:
        return data["region_observed"].shape[0]

    # ------------------------------------------------------------------ data
    def prepare_data(self, data: dict) -> dict:
        """``data`` with ``region_phi`` (S, R, size): the basis at the (subject, region) coordinates,
        centred within each subject over its observed regions."""
        return {**data, "region_phi": self.phi(data)}

    def phi(self, data: dict):
        if "region_phi" in data:
            return data["region_phi"]
        if "coordinates" not in data or "region_observed" not in data:
            raise DataError("multi-region factors need the (subject, region) coordinates: pass coordinates= "
                            "indexed by (subject, region) to MultiViewData.from_pandas.")
        return _within_subject_phi(self.basis, jnp.asarray(data["coordinates"]), jnp.asarray(data["region_observed"]))

    # ------------------------------------------------------------------ NumPyro
    def sample(self, n_subjects: int, n_factors: int, data: dict, engine: str):
        """Sample Z (S, K) and Z_region (S, R, K); returns (Z, {'Z_region': Z_region})."""
        phi = self.phi(data)
        s, r, m = phi.shape
        with numpyro.plate("factor", n_factors, dim=-1):
            ls = numpyro.sample(LENGTHSCALE.name, dist.InverseGamma(*self.lengthscale_prior))
            trend_sd = numpyro.sample(TREND_SD.name, dist.HalfNormal(1.0))
            with numpyro.plate("basis", m, dim=-2):
                trend_z = numpyro.sample(TREND_Z.name, dist.Normal(0.0, 1.0))
                with numpyro.plate("subject_b", s, dim=-3):
                    gp_z = numpyro.sample(GP_Z.name, dist.Normal(0.0, 1.0))
            with numpyro.plate("subject", s, dim=-2):
                z_raw = numpyro.sample(Z_RAW.name, dist.Normal(0.0, 1.0))
        z = numpyro.deterministic(Z.name, standardise_subjects(z_raw))
        simplex = numpyro.sample(REGION_SIMPLEX.name, dist.Dirichlet(jnp.ones(3)).expand([n_factors]).to_event(1))
        loc, e_sd = _region_mean(self.basis, phi, z, ls, trend_sd, trend_z, gp_z, simplex, self._phi_var())
        with numpyro.plate("subject_r", s, dim=-3), numpyro.plate("region", r, dim=-2), \
                numpyro.plate("factor_r", n_factors, dim=-1):
            if engine == "nuts":
                raw = numpyro.sample(REGION_RAW.name, dist.Normal(0.0, 1.0))
                zr = numpyro.deterministic(Z_REGION.name, loc + e_sd * raw)
            else:
                zr = numpyro.sample(Z_REGION.name, dist.Normal(loc, e_sd))
        return z, {Z_REGION.name: zr}

    # ------------------------------------------------------------------ posterior
    def derive(self, draws: dict) -> dict:
        """region_scale, region_weight and trend_weight from the sampled helpers (chain, draw, ...)."""
        if REGION_SIMPLEX.name not in draws:
            return draws
        out = dict(draws)
        if Z.name not in out:   # SVI's draws carry the sampled sites only
            out[Z.name] = np.asarray(standardise_subjects(np.asarray(out[Z_RAW.name])))
        names = (LENGTHSCALE, TREND_SD, TREND_Z, GP_Z, REGION_SIMPLEX)
        derived = _derived_weights(self.basis, *(jnp.asarray(draws[v.name]) for v in names), self._phi_var())
        for var, value in zip((REGION_SCALE, TREND_WEIGHT, REGION_WEIGHT), derived):
            out[var.name] = np.asarray(value)
        return out

    def init_values(self, values: dict, engine: str) -> dict:
        """Z_raw from the PCA start (standardised); Z_region = sqrt(1/3) Z in every region (SVI) or
        region_raw = 0 (NUTS); the GP
        weights 0, the shares equal, the lengthscale at its prior median."""
        values = dict(values)
        if "Z" not in values:
            return values
        z = np.asarray(standardise_subjects(np.asarray(values.pop("Z"))))
        values[Z_RAW.name] = z
        s, k = z.shape
        a, b = self.lengthscale_prior
        m = self.basis.size
        values.setdefault(LENGTHSCALE.name, np.full(k, b / special.gammaincinv(a, 0.5)))
        values.setdefault(TREND_SD.name, np.full(k, 0.5))
        values.setdefault(TREND_Z.name, np.zeros((m, k)))
        values.setdefault(GP_Z.name, np.zeros((s, m, k)))
        values.setdefault(REGION_SIMPLEX.name, np.full((k, 3), 1.0 / 3.0))
        if engine == "nuts":
            values.setdefault(REGION_RAW.name, np.zeros((s, self.n_regions, k)))
        else:
            values.setdefault(Z_REGION.name, np.repeat(z[:, None, :] * np.sqrt(1.0 / 3.0), self.n_regions, axis=1))
        return values


def standardise_subjects(z):
    """Z_raw (..., subject, factor) centred and scaled to unit variance over the subjects: Z (module
    docstring). NumPy or JAX arrays."""
    c = z - z.mean(-2, keepdims=True)
    return c / jnp.sqrt((c ** 2).mean(-2, keepdims=True))


def variance_shares(posterior: dict, phi: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Finite-population variance shares of Z_region's four parts (module docstring), per draw.

    Parameters
    ----------
    posterior : name -> (chain, draw, ...) arrays: Z, Z_region, region_scale, region_weight, trend_weight.
    phi : (S, R, size) within-subject centred basis (:meth:`RegionFactors.phi`).
    observed : (S, R) bool, the pairs with data in some region-level view.

    Returns
    -------
    (chain, draw, 4, K) shares in [0, 1] summing to 1 over the parts :data:`SHARE_PARTS`.
    """
    w = observed.astype(float)[..., None]                                    # (S, R, 1)
    n = w.sum()
    level = np.sqrt(np.asarray(posterior["region_scale"])[..., 0, :])[..., None, None, :] \
        * np.asarray(posterior["Z"])[..., :, None, :]
    trend = np.einsum("srm,...mk->...srk", phi, np.asarray(posterior["trend_weight"]))
    smooth = np.einsum("srm,...smk->...srk", phi, np.asarray(posterior["region_weight"]))
    indep = np.asarray(posterior["Z_region"]) - level - trend - smooth

    def var(x):
        x = np.broadcast_to(x, indep.shape)
        mean = (x * w).sum((-3, -2), keepdims=True) / n
        return (((x - mean) ** 2) * w).sum((-3, -2)) / n                    # (..., K)

    parts = np.stack([var(level), var(trend), var(smooth), var(indep)], axis=-2)
    return parts / np.maximum(parts.sum(-2, keepdims=True), 1e-300)
