"""Static configuration of a factor model: everything the model function needs besides arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rgfactor.errors import SpecError

SPARSITY = ("auto", "ard", "horseshoe", "spike_and_slab")
# site_effects: 'none'; 'location' (site intercepts); 'location_scale' (plus a site effect on the noise of
# Gaussian views and on the dispersion of NB views); 'auto' (True: site intercepts everywhere plus the
# scale effect on Gaussian views, the richest model every engine can fit)
SITE_EFFECTS = ("none", "location", "location_scale", "auto")
FACTOR_PRIORS = ("normal", "gp")


def normalise_site_effects(value) -> str:
    """The ModelConfig form of an estimator's ``site_effects`` (False/True/'location'/'location_scale')."""
    if value is True:
        return "auto"
    if value is False or value is None:
        return "none"
    if value not in SITE_EFFECTS:
        raise SpecError(f"site_effects must be False ('none'), True ('auto'), 'location' or 'location_scale', "
                        f"got {value!r}.")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Static (hashable) model settings.

    Attributes
    ----------
    views : tuple of (view name, likelihood, n_features).
    n_factors : number of latent factors K.
    sparsity : feature-level sparsity prior on the loadings: 'ard' (ARD only), 'horseshoe'
        (regularised horseshoe on top of ARD; NumPyro engines) or 'spike_and_slab' (CAVI engine).
    site_effects : 'none', 'location' (site random intercepts per (view, site, feature)),
        'location_scale' (plus site effects on the noise) or 'auto' (see SITE_EFFECTS).
    n_sites : number of sites (0 when none).
    n_covariates : number of covariates (0 when none).
    activity : per view, a tuple of K 0/1 flags: factor k may load on the view (1) or is fixed at 0.
        None means every factor may load on every view (GFA); PCCA/PPLS fix a pattern.
    response_views : PPLS only (el Bouhaddani et al. 2018): the views loading on the response scores
        U = T B + H. Then n_factors = 2 J for J components: factor columns 0..J-1 hold the predictor
        scores T, columns J..2J-1 the standardised residual scores H / sigma_h (see
        :func:`rgfactor.generative.model.factor_model`). Empty (default) for GFA and PCCA.
    slab_scale, slab_df : regularised-horseshoe slab (Piironen & Vehtari 2017, EJS, sec. 2.3).
    ard_shape, ard_rate : Gamma prior of the ARD precisions alpha_<view>.
    view_weights : per view, the power w_m > 0 of its likelihood (a tempered or power posterior,
        p(theta | y) ∝ p(theta) prod_m p(y_m | theta)^{w_m}; :mod:`rgfactor.generative.view_weights`).
        None (default): every weight 1, the ordinary posterior.
    factor_prior : 'normal' (default: z_n ~ N(0, I)) or 'gp' (factors smooth over the subjects'
        coordinates, :mod:`rgfactor.generative.gp_factors`).
    gp_basis : factor_prior='gp': the HSGP basis (``HSGPBasis.to_json``), fixed by the training coordinates.
    gp_lengthscale_prior : factor_prior='gp': (a, b) of the inverse-gamma prior of the lengthscales.
    coordinate_names : factor_prior='gp': names of the coordinates, in the basis's order.
    region_views : multi-region data: the views whose rows are (subject, region) pairs; the factor prior
        is then :class:`rgfactor.generative.region_factors.RegionFactors` (gp_basis over the region
        coordinate). Empty otherwise.
    n_regions : multi-region data: the number of regions R of the (subject, region) grid (0 otherwise).
    region_phi_var : multi-region data: the mean square of each within-subject centred basis function over
        the observed (subject, region) pairs (:func:`rgfactor.generative.region_factors.region_factor_settings`);
        normalises the smooth parts to unit mean variance. Empty (fits saved before it): not normalised.
    """

    views: tuple[tuple[str, str, int], ...]
    n_factors: int
    sparsity: str = "ard"
    site_effects: str = "none"
    n_sites: int = 0
    n_covariates: int = 0
    activity: tuple[tuple[str, tuple[int, ...]], ...] | None = None
    response_views: tuple[str, ...] = ()
    slab_scale: float = 2.0
    slab_df: float = 4.0
    ard_shape: float = 1.0
    ard_rate: float = 1.0
    view_weights: tuple[tuple[str, float], ...] | None = None
    factor_prior: str = "normal"
    gp_basis: str | None = None
    gp_lengthscale_prior: tuple[float, float] | None = None
    coordinate_names: tuple[str, ...] = ()
    region_views: tuple[str, ...] = ()
    n_regions: int = 0
    region_phi_var: tuple[float, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "site_effects", normalise_site_effects(self.site_effects))
        if self.sparsity not in SPARSITY:
            raise SpecError(f"unknown sparsity '{self.sparsity}'; choose one of {SPARSITY}.")
        if self.n_factors < 1:
            raise SpecError(f"n_factors must be >= 1, got {self.n_factors}.")
        if self.factor_prior not in FACTOR_PRIORS:
            raise SpecError(f"unknown factor_prior '{self.factor_prior}'; choose one of {FACTOR_PRIORS}.")
        if self.factor_prior == "gp" and (self.gp_basis is None or self.gp_lengthscale_prior is None):
            raise SpecError("factor_prior='gp' needs the HSGP basis and lengthscale prior (built from the "
                            "coordinates by config_from_arrays).")
        if self.factor_prior == "gp" and self.response_views:
            raise SpecError("factor_prior='gp' is available for GFA and PCCA, not PPLS.")
        if self.region_views and (self.factor_prior != "gp" or self.n_regions < 1):
            raise SpecError("region-level views need factor_prior='gp' and n_regions >= 1.")
        if self.response_views and self.n_factors % 2:
            raise SpecError(f"a PPLS config needs n_factors = 2 x n_components, got {self.n_factors}.")
        unknown = set(self.response_views) - set(self.view_names)
        if unknown:
            raise SpecError(f"response view(s) {sorted(unknown)} are not views of the data {list(self.view_names)}.")
        if self.view_weights is not None:
            bad = [(v, w) for v, w in self.view_weights if v not in self.view_names or not w > 0]
            if bad or len(self.view_weights) != len(self.views):
                raise SpecError(f"view_weights must give one positive weight per view {list(self.view_names)}, "
                                f"got {dict(self.view_weights)}.")

    @property
    def n_components(self) -> int:
        """PPLS: number of components J (n_factors // 2); 0 for GFA/PCCA."""
        return self.n_factors // 2 if self.response_views else 0

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v[0] for v in self.views)

    def likelihood(self, view: str) -> str:
        return dict((v[0], v[1]) for v in self.views)[view]

    def weight_of(self, view: str) -> float:
        """The likelihood weight (power) of ``view``; 1 without view_weights."""
        return 1.0 if self.view_weights is None else float(dict(self.view_weights)[view])

    def activity_of(self, view: str) -> np.ndarray | None:
        if self.activity is None:
            return None
        return np.asarray(dict(self.activity)[view], dtype=float)


def config_to_dict(config: ModelConfig) -> dict:
    """JSON-able form of a ModelConfig (tuples become lists)."""
    from dataclasses import asdict

    return asdict(config)


def config_from_dict(d: dict) -> ModelConfig:
    d = dict(d)
    if d.get("site_effects") is True:   # fits saved by 0.1: site intercepts only
        d["site_effects"] = "location"
    d["views"] = tuple(tuple(v) for v in d["views"])
    if d.get("activity") is not None:
        d["activity"] = tuple((name, tuple(a)) for name, a in d["activity"])
    d["response_views"] = tuple(d.get("response_views", ()))
    if d.get("view_weights") is not None:
        d["view_weights"] = tuple((name, float(w)) for name, w in d["view_weights"])
    if d.get("gp_lengthscale_prior") is not None:
        d["gp_lengthscale_prior"] = tuple(float(v) for v in d["gp_lengthscale_prior"])
    d["coordinate_names"] = tuple(d.get("coordinate_names", ()))
    d["region_views"] = tuple(d.get("region_views", ()))
    d["region_phi_var"] = tuple(float(v) for v in d.get("region_phi_var", ()))
    return ModelConfig(**d)
