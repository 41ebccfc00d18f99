"""The factor-model structures: GFA, PCCA and PPLS (scikit-learn conventions, fitted attributes end in ``_``)."""

from __future__ import annotations

import numpy as np

from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import FACTOR
from rgfactor.data.checks import check_positive_int
from rgfactor.errors import SpecError
from rgfactor.estimators.base import FactorModel, _store_params
from rgfactor.generative.config import ModelConfig
from rgfactor.inference.init import pca_init


class GFA(FactorModel):
    """MOFA-like group factor analysis (Klami et al. 2015, IEEE TNNLS 26:2136; Argelaguet et al. 2018,
    Mol Syst Biol 14:e8124) with Gaussian, negative binomial, Bernoulli and Poisson views.

    Parameters
    ----------
    n_factors : K, number of latent factors (surplus factors are shrunk by ARD).
    sparsity : 'auto' (default: ARD only for svi/nuts, spike-and-slab for cavi; the horseshoe
        under mean-field SVI recovers factors less well, 0.91/0.97/0.86 vs 0.98/0.99/0.97),
        'ard' (ARD only), 'horseshoe' or 'spike_and_slab'.
    site_effects : site effects inside the model (needs ``site`` in the data; docs/models/sites.md):
        False (default); 'location' (site random intercepts per (view, site, feature)); 'location_scale'
        (plus a multiplicative site effect on the noise of Gaussian views and on the dispersion of NB
        views, shrunk across sites; the NB part needs SVI/NUTS); True (site intercepts everywhere and the
        scale effect on Gaussian views: the richest model the closed-form engine fits).
    view_weights : view balance, the power of each view's likelihood (a tempered posterior;
        :mod:`rgfactor.generative.view_weights`, docs/models/gfa.md): 'none' (default: every weight 1,
        the model's own posterior), 'auto' (each view the same total weight, w_m = D_total / (M D_m) for
        M views of D_m features, so that 20 mutation calls are not drowned by 851 radiomic features), or
        a dict view -> weight > 0 (views left out: 1). A weight w_m != 1 makes the fit a power posterior,
        not the model's posterior: view m counts as w_m times its observations, so the intervals of
        what it informs are wider (w_m < 1) or narrower (w_m > 1) than the model's. The stored
        log-likelihood (LOO, report) is the untempered one.
    method : default inference engine: 'auto' (default: the closed-form CAVI engine when the model and
        prior allow it, else SVI), 'cavi', 'svi' or 'nuts'.
    max_iter : SVI steps or CAVI sweeps at most (default None: 5000 for SVI, 1000 for CAVI).
    tol : relative ELBO change that stops SVI or CAVI (default None: 1e-5 for SVI, 1e-6 for CAVI).
    learning_rate : Adam step size of SVI.
    num_draws : posterior draws kept (default None: 500 per chain for NUTS; 200 independent draws from
        q for the variational engines, whose means and variances are exact, so that the draws serve
        intervals and nonlinear summaries: 200 draws put a 94% interval's endpoints within ~0.15
        posterior sd). num_warmup, num_chains : NUTS settings.
    batch_size : closed-form engine only: fit by natural-gradient stochastic VI over minibatches of this
        many subjects (Hoffman et al. 2013; ARD loadings; ``max_iter`` then counts epochs, default 100)
        for cohorts too large for full sweeps (float32 frames stay float32 on the device; docs/scaling.md
        on choosing it). None (default): full-batch sweeps.
    devices : closed-form engine only: split the subject axis over this many local devices (an int, or
        'all'; ``jax.sharding``; the number of subjects must be a multiple; not with ``batch_size``).
        None (default): one device. See docs/scaling.md.
    progress : progress bars: 'auto' (default: shown once a fit has run for a few seconds, with
        compilation as its own phase), True or False.
    random_state : seed; the same seed gives the same fit.
    factor_prior : 'normal' (default: z_n ~ N(0, I)) or 'gp': factors smooth over the data's
        ``coordinates`` (MEFISTO's model, Velten et al. 2022, on an HSGP basis; per factor a
        lengthscale and a scale, the share of its variance that is spatial; docs/models/spatial_factors.md,
        :mod:`rgfactor.generative.gp_factors`). Every engine ('auto' picks the closed form; no ``batch_size``).
    lengthscale_range : factor_prior='gp': (lower, upper) lengthscales in coordinate units holding 98%
        of the prior mass; the lower one sets the basis size. None: from the coordinates (upper: the
        largest coordinate range; lower: 3 median nearest-neighbour distances, at most 0.1 of the range and
        at least what 400 basis functions resolve; :func:`rgfactor.generative.gp_factors.default_lengthscale_range`).
    n_basis : factor_prior='gp': HSGP basis functions per coordinate (None: Riutort-Mayol et al.'s rule);
        with gp_basis='convolution' the most lattice points (None: 900).
    gp_basis : factor_prior='gp': 'hsgp' (default: a Hilbert-space basis, every engine) or 'convolution':
        Gaussian bumps on a lattice over the data (a discrete process convolution, Higdon 2002), which
        reach lengthscales of a few cell spacings over a whole tissue section, where an HSGP basis would
        need more functions than there are cells (default lower end: 3 median nearest-neighbour distances,
        at least what 900 lattice points resolve). Closed-form engine only. On osmFISH its smooth part
        (``factors_at`` the cells) separates the cortical layers at CV accuracy 0.935, the HSGP's 0.923,
        MEFISTO's factors 0.926 (docs/models/spatial_factors.md).

    Attributes
    ----------
    idata_ : arviz.InferenceData (aligned draws; dims subject, factor, <view>_feature, site, ...).
    factors_, loadings_ : posterior means (xarray).
    diagnostics_ : dict (ELBO trace or R-hat/ESS).
    preprocessing_ : rgfactor.data.Preprocessing fitted on the training cohort.
    """

    structure = "GFA"

    def __init__(self, n_factors: int = 10, *, sparsity: str = "auto", site_effects=False,
                 view_weights="none", method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int | None = None, num_warmup: int = 500, num_chains: int = 2, batch_size: int | None = None,
                 devices=None, progress="auto", random_state: int = 0, factor_prior: str = "normal",
                 lengthscale_range=None, n_basis=None, gp_basis: str = "hsgp"):
        _store_params(self, locals())


class PCCA(FactorModel):
    """Bayesian probabilistic CCA (Bach & Jordan 2005; Klami, Virtanen & Kaski 2013, JMLR 14:965):
    ``n_shared`` factors load on every view, ``n_specific`` factors per view on that view only.

    Factors are ordered shared first (``Factor1..Factor<n_shared>``), then each view's specific
    factors in view order; the coordinate ``factor_kind`` of the factor dim says which
    ('shared' or '<view>_specific'). Alignment never moves a factor across these groups. Model:
    docs/models/pcca.md. Other parameters and attributes as :class:`GFA`; engines 'svi' and 'nuts'.
    """

    structure = "PCCA"

    def __init__(self, n_shared: int = 2, n_specific: int = 1, *, sparsity: str = "auto", site_effects=False,
                 view_weights="none", method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int | None = None, num_warmup: int = 500, num_chains: int = 2, batch_size: int | None = None,
                 devices=None, progress="auto", random_state: int = 0):
        _store_params(self, locals())

    def _n_factors(self, arrays=None) -> int:
        return (check_positive_int("n_shared", self.n_shared) + len(arrays.views)
                * check_positive_int("n_specific", self.n_specific, minimum=0))

    def _activity(self, arrays) -> dict:
        names = [v.name for v in arrays.views]
        act = {}
        for i, name in enumerate(names):
            spec = np.zeros(len(names) * self.n_specific, dtype=int)
            spec[i * self.n_specific:(i + 1) * self.n_specific] = 1
            act[name] = np.concatenate([np.ones(self.n_shared, dtype=int), spec])
        return act

    def factor_kinds(self) -> list[str]:
        """'shared' or '<view>_specific' per factor, in the fitted factor order."""
        self._check_fitted()
        return ["shared"] * self.n_shared + [f"{v}_specific" for v in self.config_.view_names
                                              for _ in range(self.n_specific)]

    def fit(self, data: MultiViewData, y=None, *, method: str | None = None, progress=None):
        super().fit(data, y, method=method, progress=progress)
        self.idata_.posterior = self.idata_.posterior.assign_coords(factor_kind=(FACTOR, self.factor_kinds()))
        return self

    fit.__doc__ = FactorModel.fit.__doc__

    def canonical_correlations(self, view1: str, view2: str, summary: bool = False):
        """Posterior of the model-implied canonical correlations between two views
        (:mod:`rgfactor.posterior.canonical`): DataArray (chain, draw, component), or with
        ``summary=True`` a DataFrame of posterior mean and 94% HDI per component."""
        from rgfactor.posterior.canonical import canonical_correlations, summarise

        self._check_fitted()
        rho = canonical_correlations(self.idata_, self.model_, view1, view2)
        return summarise(rho) if summary else rho


class PPLS(FactorModel):
    """Bayesian probabilistic PLS (el Bouhaddani et al. 2018, J Multivar Anal 163:141): predictor
    views load on scores T ~ N(0, I_J), the ``response`` views on U = T B + H, B diagonal ~ N(0, 1),
    H ~ N(0, sigma_h^2 I).

    The factor dim holds 2J columns: Factor1..J are the predictor scores T (active on all views),
    Factor<J+1>..2J the standardised residual scores H / sigma_h (response views only); see
    docs/models/ppls.md. A clinical outcome is a one-feature view (gaussian or bernoulli); a K-class
    outcome a K-feature bernoulli (one-hot) view. Other parameters as :class:`GFA`; every engine ('auto'
    picks the closed-form one, which fits the centred form [T, U] of the same model).

    Parameters
    ----------
    n_components : J.  response : list of view names forming the response block.
    """

    structure = "PPLS"

    def __init__(self, n_components: int = 2, response=None, *, sparsity: str = "auto", site_effects=False,
                 view_weights="none", method: str = "auto", max_iter: int | None = None, tol: float | None = None, learning_rate: float = 0.05,
                 num_draws: int | None = None, num_warmup: int = 500, num_chains: int = 2, batch_size: int | None = None,
                 devices=None, progress="auto", random_state: int = 0):
        _store_params(self, locals())

    def _n_factors(self, arrays=None) -> int:
        return 2 * check_positive_int("n_components", self.n_components)

    def _response_views(self) -> tuple[str, ...]:
        if not self.response:
            raise SpecError("PPLS needs response=[view names], e.g. PPLS(2, response=['outcome']).")
        return (self.response,) if isinstance(self.response, str) else tuple(self.response)

    def _activity(self, arrays) -> dict:
        j, resp = self.n_components, self._response_views()
        names = [v.name for v in arrays.views]
        if set(resp) >= set(names):
            raise SpecError(f"PPLS needs at least one predictor view besides the response {list(resp)}.")
        return {n: np.ones(2 * j, dtype=int) if n in resp else np.r_[np.ones(j, dtype=int), np.zeros(j, dtype=int)]
                for n in names}

    def _init(self, arrays, config: ModelConfig) -> dict:
        j = self.n_components
        init = pca_init(arrays, j, self.random_state)
        rng = np.random.default_rng(self.random_state)
        init["Z"] = np.concatenate([init["Z"], rng.normal(0.0, 0.1, init["Z"].shape)], axis=1)
        for v in arrays.views:
            if v.name in config.response_views:
                init[f"ppls_C_{v.name}"] = init.pop(f"W_{v.name}")
            else:
                init[f"W_{v.name}"] = np.concatenate([init[f"W_{v.name}"], np.zeros_like(init[f"W_{v.name}"])], 1)
                init[f"alpha_{v.name}"] = np.r_[init[f"alpha_{v.name}"], np.ones(j)]
        init["ppls_B"], init["ppls_sigma_h"] = np.ones(j), np.asarray(0.5)
        return init

    def predict(self, new_data: MultiViewData, view: str | None = None, *, num_draws: int = 200):
        """Posterior predictive mean of the response for unseen subjects (their response values, if
        given, are ignored): a DataArray (subject, <view>_feature) for a single response view, else a
        dict view -> DataArray. With ``view`` given, as :meth:`GFA.predict` for that view."""
        self._check_fitted()
        if view is not None:
            return super().predict(new_data, view, num_draws=num_draws)
        resp = self.config_.response_views
        data = new_data
        if any(r in new_data.views for r in resp):  # drop the response so it cannot inform the factors
            from dataclasses import replace

            data = replace(new_data, views={k: v for k, v in new_data.views.items() if k not in resp})
        out = {r: super(PPLS, self).predict(data, r, num_draws=num_draws) for r in resp}
        return out[resp[0]] if len(resp) == 1 else out
