"""Model blocks: one small pure NumPyro function per variable family (names as in ARCHITECTURE.md).

Conventions: plates ``subject`` (dim -2 for (subject, feature) arrays), ``<view>_feature``
(dim -1), ``factor``. Loadings are stored (feature, factor).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist


def factors(n_subjects: int, n_factors: int) -> jax.Array:
    """Latent factors ``Z`` ~ Normal(0, I_K) per subject (Klami et al. 2015, eq. 1).

    Returns (n_subjects, n_factors), dims (subject, factor).
    """
    with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate("factor", n_factors, dim=-1):
        return numpyro.sample("Z", dist.Normal(0.0, 1.0))


def ard_precision(view: str, n_factors: int, shape: float, rate: float, plate: str = "factor") -> jax.Array:
    """ARD precisions ``alpha_<view>`` ~ Gamma(shape, rate) per factor (Bishop 1999; Klami et al. 2015, eq. 3).

    A large alpha switches factor k off in the view. ``plate`` names the factor plate ('component'
    for the J-column loadings of a PPLS response view). Returns (n_factors,).
    """
    with numpyro.plate(plate, n_factors, dim=-1):
        return numpyro.sample(f"alpha_{view}", dist.Gamma(shape, rate))


def horseshoe_scales(view: str, n_features: int, n_factors: int, tau: jax.Array,
                     slab_scale: float, slab_df: float, plate: str = "factor") -> jax.Array:
    """Regularised-horseshoe local scales (Piironen & Vehtari 2017, EJS 11:5018, eq. 2.8).

    lambda_<view>[d, k] ~ HalfCauchy(1);  c2_<view> ~ InvGamma(df/2, df s^2/2);
    lambda_tilde^2 = c^2 lambda^2 / (c^2 + tau_k^2 lambda^2), with tau_k = alpha_k^{-1/2} the
    (view, factor) global scale from ARD. Returns lambda_tilde, (n_features, n_factors).
    """
    c2 = numpyro.sample(f"c2_{view}", dist.InverseGamma(slab_df / 2.0, slab_df * slab_scale**2 / 2.0))
    with numpyro.plate(f"{view}_loading_row", n_features, dim=-2), numpyro.plate(plate, n_factors, dim=-1):
        lam = numpyro.sample(f"lambda_{view}", dist.HalfCauchy(1.0))
    return jnp.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))


def loadings(view: str, n_features: int, n_factors: int, scale: jax.Array, activity=None,
             name: str | None = None, plate: str = "factor") -> jax.Array:
    """Loadings ``W_<view>`` ~ Normal(0, scale) with scale (n_features, n_factors) or (n_factors,).

    ``activity`` (n_factors,) of 0/1 zeroes the loadings of factors fixed inactive in this view
    (structured models, PCCA/PPLS). ``name`` overrides the site name (default ``W_<view>``),
    ``plate`` the factor plate's.
    Returns (n_features, n_factors), dims (<view>_feature, factor).
    """
    # the feature plate of (feature, factor) arrays sits at dim -2, so it gets its own name
    with numpyro.plate(f"{view}_loading_row", n_features, dim=-2), numpyro.plate(plate, n_factors, dim=-1):
        w = numpyro.sample(name or f"W_{view}", dist.Normal(0.0, scale))
    return w if activity is None else w * activity


def intercept(view: str, centre: jax.Array, scale: jax.Array) -> jax.Array:
    """Per-feature intercepts ``intercept_<view>`` ~ Normal(centre_d, 2.5 scale_d).

    The prior is centred on the feature's empirical link-scale centre (mean, log mean normalised
    count, or logit frequency; see ViewArrays.centre), weakly informative. Returns (n_features,).
    """
    with numpyro.plate(f"{view}_feature", centre.shape[0], dim=-1):
        return numpyro.sample(f"intercept_{view}", dist.Normal(centre, 2.5 * scale))


def site_effects(view: str, n_sites: int, scale: jax.Array) -> jax.Array:
    """Site random intercepts ``site_effect_<view>`` (site, feature), hierarchical and non-centred.

    site_sd_<view>[d] ~ HalfNormal(scale_d);  site_effect[s, d] ~ Normal(0, site_sd[d]), sampled as
    site_sd * N(0, 1) (the non-centred form, Papaspiliopoulos et al. 2007), so sites shrink to the
    population intercept when the data do not support a difference. Returns (n_sites, n_features).
    """
    n_features = scale.shape[0]
    with numpyro.plate(f"{view}_feature", n_features, dim=-1):
        sd = numpyro.sample(f"site_sd_{view}", dist.HalfNormal(scale))
    with numpyro.plate("site", n_sites, dim=-2), numpyro.plate(f"{view}_feature", n_features, dim=-1):
        raw = numpyro.sample(f"site_raw_{view}", dist.Normal(0.0, 1.0))
    return numpyro.deterministic(f"site_effect_{view}", raw * sd)


def covariate_effects(view: str, n_covariates: int, scale: jax.Array) -> jax.Array:
    """Covariate effects ``beta_<view>`` (covariate, feature) ~ Normal(0, scale_d) on standardised covariates."""
    with numpyro.plate("covariate", n_covariates, dim=-2), numpyro.plate(f"{view}_feature", scale.shape[0], dim=-1):
        return numpyro.sample(f"beta_{view}", dist.Normal(0.0, scale))


def observe(view: str, distribution: dist.Distribution, y: jax.Array, mask: jax.Array) -> None:
    """Likelihood of the observed entries of a view; missing entries (mask False) are left out."""
    n_subjects, n_features = y.shape
    with numpyro.plate("subject", n_subjects, dim=-2), numpyro.plate(f"{view}_feature", n_features, dim=-1):
        numpyro.sample(f"y_{view}", distribution.mask(mask), obs=y)


def inner_relation(n_components: int) -> tuple[jax.Array, jax.Array]:
    """PPLS inner relation U = T B + H (el Bouhaddani et al. 2018, J Multivar Anal 163:141, eq. 1):
    diagonal ``ppls_B`` ~ Normal(0, 1) (component,) and residual sd ``ppls_sigma_h`` ~ HalfNormal(1).

    Returns (b, sigma_h), shapes (n_components,) and ().
    """
    with numpyro.plate("component", n_components, dim=-1):
        b = numpyro.sample("ppls_B", dist.Normal(0.0, 1.0))
    return b, numpyro.sample("ppls_sigma_h", dist.HalfNormal(1.0))


def response_loadings(view: str, c: jax.Array, b: jax.Array, sigma_h: jax.Array) -> jax.Array:
    """Effective loadings ``W_<view>`` = [C diag(B), sigma_h C] of a PPLS response view on the stacked
    factors [T, H_std], so that [T, H_std] W^T = U C^T (a deterministic site).

    Returns (n_features, 2 n_components), dims (<view>_feature, factor).
    """
    return numpyro.deterministic(f"W_{view}", jnp.concatenate([c * b, c * sigma_h], axis=-1))
