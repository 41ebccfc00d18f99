"""The model description: a factor prior and, per view, loadings, terms and a likelihood.

Generative process for view m, subject n, feature d (Argelaguet et al. 2018, Mol Syst Biol 14:e8124,
eq. 1-3; Klami et al. 2015, IEEE TNNLS 26:2136):

    z_n ~ factor prior                          (IidNormalFactors: N(0, I_K); PPLSFactors)
    w^m_d ~ loadings prior                      (ARD, horseshoe, spike-and-slab, PPLS response)
    eta^m_nd = sum_t H_t theta^m_t + z_n . w^m_d + log s^m_n     (terms: intercept, site, covariates)
    y^m_nd ~ p_m(y | eta^m_nd, nuisance^m_d)    (likelihood registry)

with s^m_n the size factor of count views. One :class:`Model` is read by every engine (its NumPyro
program for SVI/NUTS, its components' conjugate updates for CAVI), by the posterior layer (dims and
roles of its variables, the linear predictor, the likelihood's parameters) and by new-subject
prediction. GFA, PCCA and PPLS are configurations of it (:func:`describe`). See docs/models/*.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, reduce

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import DataError, SpecError
from rgfactor.generative.components import NUTS_TARGET_ACCEPT
from rgfactor.generative.config import ModelConfig, normalise_site_effects
from rgfactor.generative.factors import IidNormalFactors
from rgfactor.generative.gp_factors import GPFactors, basis_from_json, gp_factor_settings
from rgfactor.generative.hsgp import HSGPBasis
from rgfactor.generative.likelihoods import Likelihood, get as get_likelihood
from rgfactor.generative.likelihoods.site_scale import with_site_scale
from rgfactor.generative.loadings import ARDLoadings, HorseshoeLoadings
from rgfactor.generative.ppls import PPLSFactors, PPLSResponse
from rgfactor.generative.program import Program
from rgfactor.generative.region_factors import RegionFactors, region_factor_settings
from rgfactor.generative.spike_slab import SpikeSlabLoadings
from rgfactor.generative.terms import Covariates, Intercept, SiteLocation
from rgfactor.generative.variables import Variable
from rgfactor.generative.view_weights import resolve_view_weights


def _device(x, dtype=None) -> jax.Array:
    """``x`` on the default device with ``dtype``, converted on the host first: ``jnp.asarray(x, dtype)``
    of a NumPy array of another dtype compiles an XLA conversion program per call (tens of ms each on
    these CPUs, in every fresh process)."""
    return jnp.asarray(np.asarray(x, dtype=dtype))


def model_data(arrays: ModelArrays, dtype=jnp.float32, host: bool = False) -> dict:
    """Pytree of jax arrays the model program takes (from the data layer's ModelArrays).

    ``dtype`` of the real arrays: float32 (default, what the NumPyro engines use) or float64
    (inside ``jax.enable_x64``). ``host=True``: the views' (subject, feature) values and masks stay
    NumPy arrays (no copy when they already have that dtype), for summaries computed once on the host
    (variance explained after a closed-form fit), not a second copy of a large cohort on the device."""
    conv = np.asarray if host else _device
    views = {v.name: {"y": conv(v.y, dtype), "mask": conv(v.mask),
                      "log_offset": _device(v.log_offset, dtype),
                      "centre": _device(v.centre, dtype), "scale": _device(v.scale, dtype)}
             for v in arrays.views}
    out = {"views": views}
    if arrays.site is not None:
        out["site"] = _device(arrays.site, jnp.int32)
    if arrays.covariates is not None:
        out["covariates"] = _device(arrays.covariates, dtype)
    if arrays.exposure is not None:       # mediation models (rgfactor.generative.mediation)
        out["exposure"] = _device(arrays.exposure, dtype)
    if arrays.confounders is not None:
        out["confounders"] = _device(arrays.confounders, dtype)
    if arrays.coordinates is not None:    # factor_prior='gp' (rgfactor.generative.gp_factors)
        out["coordinates"] = _device(arrays.coordinates, dtype)
    if arrays.regions:                    # multi-region data (rgfactor.generative.region_factors)
        out["region_observed"] = jnp.asarray(region_observed(arrays))
    return out


def region_observed(arrays: ModelArrays) -> np.ndarray:
    """(S, R) bool: the (subject, region) pairs with data in some region-level view."""
    r = len(arrays.regions)
    seen = [v.mask.reshape(-1, r, v.n_features).any(-1) for v in arrays.views if v.level == "region"]
    return np.any(seen, axis=0)


# sparsity name -> loadings prior (ModelConfig.sparsity); add a prior here and in its test and doc row
LOADINGS_PRIORS = {"ard": ARDLoadings, "horseshoe": HorseshoeLoadings, "spike_and_slab": SpikeSlabLoadings}


@dataclass(frozen=True)
class ViewModel:
    """One view: its likelihood, number of features, loadings prior and linear-predictor terms, and
    ``weight``, the power of its likelihood in the fitted target (1: the posterior; otherwise a
    tempered posterior, :mod:`rgfactor.generative.view_weights`), which every engine reads from here."""

    name: str
    likelihood: Likelihood
    n_features: int
    loadings: object
    terms: tuple = (Intercept(),)
    weight: float = 1.0

    def components(self) -> tuple:
        return (self.loadings,) + tuple(self.terms) + (self.likelihood,)

    def variables(self) -> tuple[Variable, ...]:
        out = tuple(self.loadings.variables(self.name))
        for t in self.terms:
            out += tuple(t.variables(self.name))
        return out + tuple(self.likelihood.variables(self.name))


def keep_reported(declared: dict, draws: dict, owner: str) -> dict:
    """The draws of the reported variables among ``declared`` (name -> Variable); sampler-only helpers
    dropped. Raises SpecError for a draw no declaration covers (an engine or component bug)."""
    unknown = sorted(set(draws) - set(declared))
    if unknown:
        raise SpecError(f"posterior variable(s) {unknown} are not declared by {owner}.")
    return {k: v for k, v in draws.items() if declared[k].reported}


@dataclass(frozen=True)
class Model:
    """A factor model: the factor prior and one :class:`ViewModel` per view (hashable, static)."""

    factors: object
    views: tuple[ViewModel, ...]
    n_factors: int

    # ------------------------------------------------------------------ declaration
    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.views)

    def view(self, name: str) -> ViewModel:
        for v in self.views:
            if v.name == name:
                return v
        raise SpecError(f"unknown view '{name}'; the model has views {list(self.view_names)}.")

    @property
    def engines(self) -> frozenset:
        """Engines that can fit every component ('cavi', 'svi', 'nuts')."""
        return reduce(lambda a, b: a & b, (frozenset(c.engines) for c in self.components()))

    def components(self) -> tuple:
        """The factor prior, then every view's components."""
        return (self.factors,) + tuple(c for v in self.views for c in v.components())

    @property
    def nuts_target_accept(self) -> float:
        """NUTS's target acceptance probability: the highest any component asks for (a component's
        ``nuts_target_accept``; :data:`rgfactor.generative.components.NUTS_TARGET_ACCEPT` otherwise)."""
        return max(getattr(c, "nuts_target_accept", NUTS_TARGET_ACCEPT) for c in self.components())

    @property
    def nuts_dense_mass(self) -> list[tuple[str, ...]]:
        """Blocks of sampled NUTS sites with a dense mass matrix (the components' ``nuts_dense_mass``;
        every other site diagonal): numpyro's ``dense_mass`` argument."""
        return [tuple(b) for c in self.components() for b in getattr(c, "nuts_dense_mass", ())]

    def variables(self) -> dict[str, Variable]:
        """Every declared variable, by name (templates bound to the views)."""
        out = {v.name: v for v in self.factors.variables()}
        for view in self.views:
            out.update({v.name: v for v in view.variables()})
        return out

    def n_subjects(self, data: dict) -> int:
        """Subjects of the model data (the rows of a subject-level view; multi-region data: the grid's)."""
        count = getattr(self.factors, "n_subjects", None)
        return next(iter(data["views"].values()))["mask"].shape[0] if count is None else count(data)

    def factor_name(self, view: str) -> str:
        """The factors ``view`` loads on, by the factor prior: 'Z', or 'Z_region' for a region-level view
        of multi-region data (:mod:`rgfactor.generative.region_factors`)."""
        name = getattr(self.factors, "factor_name", None)
        return "Z" if name is None else name(view)

    def view_factors(self, view: str, values: dict):
        """The factors ``view`` loads on from ``values``, as (..., rows of the view, K): Z, or Z_region
        (..., S, R, K) flattened to the view's (subject, region) rows."""
        z = values[self.factor_name(view)]
        return z if self.factor_name(view) == "Z" else z.reshape(z.shape[:-3] + (-1, z.shape[-1]))

    def prepare_data(self, data: dict) -> dict:
        """Model data with the arrays the components precompute from it (the GP factor prior's basis at
        the subjects' coordinates); ``data`` itself is not modified."""
        prepare = getattr(self.factors, "prepare_data", None)
        return data if prepare is None else prepare(data)

    # ------------------------------------------------------------------ NumPyro
    def program(self, engine: str = "svi"):
        """The NumPyro model function ``model(data)`` in the parameterisation of ``engine``:
        'svi' (as declared), 'nuts' (reparameterised) or 'cavi' (the conjugate form). A
        :class:`~rgfactor.generative.program.Program`: equal for equal models."""
        return Program(self, engine)

    def numpyro_model(self, data: dict, engine: str = "svi") -> None:
        """The NumPyro model itself (see :meth:`program`)."""
        z, extras = self.factors.sample(self.n_subjects(data), self.n_factors, data, engine)
        for view in self.views:
            self._view_block(view, data, self.view_factors(view.name, {"Z": z, **extras}), extras, engine)

    def _view_block(self, view: ViewModel, data: dict, z, extras: dict, engine: str) -> None:
        name, vd = view.name, data["views"][view.name]
        w = view.loadings.sample(name, view.n_features, self.n_factors, engine, extras)
        params = {f"W_{name}": w}
        for term in view.terms:
            params.update(term.sample(name, vd, data, engine))
        lik = view.likelihood
        nuisance = lik.sample_nuisance(name, view.n_features, vd["scale"], engine, data)
        eta = self.linear_predictor(name, params, data, z)
        obs = lik.conjugate_observation() if engine == "cavi" else lik
        rows = {} if self.factor_name(name) == "Z" else {"rows": "subject_region"}
        if view.weight == 1.0:
            obs.observe(name, eta, nuisance, vd.get("y"), vd["mask"], **rows)
        else:
            with numpyro.handlers.scale(scale=view.weight):
                obs.observe(name, eta, nuisance, vd.get("y"), vd["mask"], **rows)

    # ------------------------------------------------------------------ deterministic pieces
    def linear_predictor(self, view: str, params: dict, data: dict, z: jax.Array) -> jax.Array:
        """eta (n_subjects, n_features) of ``view`` from parameter values (no sampling).

        ``params`` holds ``W_<view>`` and the coefficient of every term of the view.
        """
        vm = self.view(view)
        vd = data["views"][view]
        f = z @ params[f"W_{view}"].T
        first, *rest = vm.terms
        eta = first.contribution(view, params, data) + f + vd["log_offset"][:, None]
        for term in rest:
            eta = eta + term.contribution(view, params, data)
        return eta

    def view_params(self, view: str, values: dict, data: dict | None = None) -> tuple[dict, dict]:
        """Split values (draw or means) into the view's linear-predictor parameters and its
        likelihood's nuisance parameters, by declaration. ``data`` (the model data) is needed by
        nuisance parameters that vary with the subject (site-specific noise)."""
        vm = self.view(view)
        lin = {f"W_{view}": values[f"W_{view}"]}
        for term in vm.terms:
            key = term.coefficient.format(view=view)
            lin[key] = values[key]
        return lin, vm.likelihood.params(view, values, data)

    def view_inputs(self, view: str) -> list[str]:
        """Names of the variables the view's likelihood reads (factors, loadings, term
        coefficients, nuisance), by declaration."""
        vm = self.view(view)
        names = [self.factor_name(view), f"W_{view}"] + [t.coefficient.format(view=view) for t in vm.terms]
        reported = [v.name for v in vm.likelihood.variables(view) if v.reported]
        return names + reported

    def log_likelihood(self, view: str, values: dict, data: dict, z) -> jax.Array:
        """log p(y | eta) per (subject, feature) of ``view``; 0 where the entry is missing (untempered:
        the view's weight is not applied)."""
        vm = self.view(view)
        lin, nuis = self.view_params(view, values, data)
        vd = data["views"][view]
        lp = vm.likelihood.distribution(self.linear_predictor(view, lin, data, z), nuis).log_prob(vd["y"])
        return jnp.where(vd["mask"], lp, 0.0)

    # ------------------------------------------------------------------ draws
    def derive(self, draws: dict, rng=None) -> dict:
        """Reported variables computed from sampled ones (site_effect = raw * sd, PPLS W, ARD precisions
        integrated out under NUTS, ...). ``draws``: name -> (chain, draw, ...); ``rng`` a NumPy Generator
        for the variables drawn from their conditional given the others."""
        out = self.factors.derive(dict(draws))
        for view in self.views:
            out = view.loadings.derive(view.name, out, {}, rng)
            for term in view.terms:
                out = term.derive(view.name, out)
            out = view.likelihood.derive(view.name, out)
        return out

    def reported(self, draws: dict) -> dict:
        """The reported variables of ``draws`` (sampler-only helpers dropped).

        Raises
        ------
        SpecError  for a variable no component declares (an engine or component bug).
        """
        return keep_reported(self.variables(), draws, "any model component")

    def init_values(self, values: dict, engine: str) -> dict:
        """Map initial values in the reported parameterisation to the sampled sites of ``engine``."""
        out = self.factors.init_values(dict(values), engine)
        for view in self.views:
            out = view.loadings.init_values(view.name, out, engine)
            out = view.likelihood.init_values(view.name, out, engine)
        return out


@lru_cache(maxsize=64)
def describe(config: ModelConfig) -> Model:
    """The model of a configuration: GFA (no activity), PCCA (activity pattern), PPLS (response views)."""
    if config.sparsity not in LOADINGS_PRIORS:
        raise SpecError(f"unknown sparsity '{config.sparsity}'; choose one of {sorted(LOADINGS_PRIORS)}.")
    prior_cls = LOADINGS_PRIORS[config.sparsity]
    kwargs = {"shape": config.ard_shape, "rate": config.ard_rate}
    if issubclass(prior_cls, HorseshoeLoadings):
        kwargs.update(slab_scale=config.slab_scale, slab_df=config.slab_df)
    base = prior_cls(**kwargs)
    if config.region_views:
        factors = RegionFactors(HSGPBasis.from_json(config.gp_basis), config.gp_lengthscale_prior, config.n_regions,
                                config.region_views, config.region_phi_var)
    elif config.factor_prior == "gp":
        factors = GPFactors(basis_from_json(config.gp_basis), config.gp_lengthscale_prior)
    else:
        factors = PPLSFactors(config.n_components) if config.response_views else IidNormalFactors()
    views = []
    for name, likelihood, n_features in config.views:
        if name in config.response_views:
            loadings = PPLSResponse(base, config.n_components)
        else:
            act = config.activity_of(name)
            loadings = base.with_activity(act)
        terms = [Intercept()]
        sites = config.site_effects != "none" and config.n_sites > 1
        if sites:
            terms.append(SiteLocation(config.n_sites))
        if config.n_covariates > 0:
            terms.append(Covariates(config.n_covariates))
        lik = get_likelihood(likelihood)
        if sites and config.site_effects in ("location_scale", "auto"):
            scaled = with_site_scale(lik, config.n_sites)
            if scaled is not None and (config.site_effects == "location_scale" or "cavi" in scaled.engines):
                lik = scaled
        views.append(ViewModel(name, lik, n_features, loadings, tuple(terms), config.weight_of(name)))
    return Model(factors, tuple(views), config.n_factors)


def config_from_arrays(arrays: ModelArrays, n_factors: int, *, sparsity: str = "ard", site_effects=False,
                       activity: dict[str, np.ndarray] | None = None, response_views: tuple = (),
                       view_weights=None, factor_prior: str = "normal", lengthscale_range=None, n_basis=None,
                       gp_basis: str = "hsgp", **priors) -> ModelConfig:
    """ModelConfig for a cohort: view shapes, sites and covariates read from ``arrays``; ``view_weights``
    'none'/None, 'auto' or a dict (:func:`rgfactor.generative.view_weights.resolve_view_weights`);
    ``factor_prior='gp'`` builds the basis (``gp_basis``: 'hsgp' or 'convolution') from ``arrays.coordinates``
    (``lengthscale_range``, ``n_basis``: :func:`rgfactor.generative.gp_factors.gp_factor_settings`).

    Multi-region data (``arrays.regions``): :class:`rgfactor.generative.region_factors.RegionFactors`
    over the region coordinate (``lengthscale_range``, ``n_basis``: :func:`region_factor_settings`).

    Raises
    ------
    DataError  for factor_prior='gp' without coordinates. SpecError  for multi-region data with
    factor_prior='normal', site effects, covariates or gp_basis other than 'hsgp' (not available with
    region-level views).
    """
    if arrays.regions:
        check_region_settings(arrays, factor_prior, site_effects)
        if gp_basis != "hsgp":
            raise SpecError(f"gp_basis='{gp_basis}' is not available with region-level views (their within-subject "
                            "curves use an HSGP basis); fit with gp_basis='hsgp'.")
        gp = region_factor_settings(arrays.coordinates, len(arrays.regions), lengthscale_range, n_basis,
                                    observed=region_observed(arrays))
        priors.update(gp_basis=gp["basis"], gp_lengthscale_prior=gp["lengthscale_prior"], region_phi_var=gp["phi_var"],
                      coordinate_names=tuple(arrays.coordinate_names), n_regions=len(arrays.regions),
                      region_views=tuple(v.name for v in arrays.views if v.level == "region"))
    elif factor_prior == "gp":
        if arrays.coordinates is None:
            raise DataError("factor_prior='gp' makes factors smooth over the subjects' coordinates; pass "
                            "coordinates= (a DataFrame indexed by subject) to MultiViewData.from_pandas.")
        gp = gp_factor_settings(arrays.coordinates, lengthscale_range, n_basis, gp_basis)
        priors.update(gp_basis=gp["basis"], gp_lengthscale_prior=gp["lengthscale_prior"],
                      coordinate_names=tuple(arrays.coordinate_names))
    act = None
    if activity is not None:
        act = tuple((v.name, tuple(int(a) for a in activity[v.name])) for v in arrays.views)
    return ModelConfig(
        views=tuple((v.name, v.likelihood, v.n_features) for v in arrays.views),
        n_factors=n_factors, sparsity=sparsity,
        site_effects=normalise_site_effects(site_effects) if arrays.n_sites > 1 else "none",
        n_sites=arrays.n_sites, n_covariates=0 if arrays.covariates is None else arrays.covariates.shape[1],
        activity=act, response_views=tuple(response_views),
        view_weights=resolve_view_weights(view_weights, {v.name: v.n_features for v in arrays.views}),
        factor_prior=factor_prior, **priors)


def check_region_settings(arrays: ModelArrays, factor_prior: str, site_effects) -> None:
    """Raise SpecError for settings multi-region data do not support (the terms and the normal prior
    index subjects, not (subject, region) rows)."""
    if factor_prior != "gp":
        raise SpecError("views indexed by (subject, region) need factor_prior='gp' (subject-level factors plus a "
                        "smooth within-subject deviation over the region coordinate, "
                        "rgfactor.generative.region_factors).")
    if arrays.n_sites > 1 and normalise_site_effects(site_effects) != "none":
        raise SpecError("site effects are not available with region-level views yet; fit without site= or "
                        "with site_effects=False.")
    if arrays.covariates is not None:
        raise SpecError("covariates are not available with region-level views yet; fit without covariates=.")
