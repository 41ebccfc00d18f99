"""rgfactor's own estimators (GFA, PCCA, PPLS) as benchmark methods, under any engine.

Only the public estimator API is used: ``fit``, ``factors_``, ``transform`` (Laplace posterior mode
of held-out subjects given the fitted globals), ``predict``, ``factor_posterior`` and
:func:`rgfactor.model_selection.heldout_log_density`. Params: the estimator's own (``n_factors``,
``method`` = engine, ``max_iter``, ...), plus ``site_effects = "auto"`` (default: on when the cohort
has a site), ``heldout_density`` (default true: ``lpd_<view>``, the mean over held-out subjects of
log p(y_view | other views), model scale, summed over the view's features) and ``coverage`` (default
0.9: ``coverage90_<view>``, the fraction of held-out entries of each Gaussian view inside the central
predictive interval of that level given the other views; 0 turns it off).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rgfactor.benchmark.methods import Method, NotApplicable, register
from rgfactor.benchmark.metrics import interval_coverage
from rgfactor.data.multiview import MultiViewData

HARNESS_PARAMS = ("heldout_density", "coverage", "num_draws")
RESPONSE_VIEW = "target"


def predictive_interval_coverage(model, test: MultiViewData, view: str, level: float, num_draws: int,
                                 seed: int) -> float:
    """Coverage of central ``level`` predictive intervals of ``view``'s held-out entries given the
    subject's other views: z ~ Laplace posterior (``model.factor_posterior(test, hide=view)``),
    y ~ the view's likelihood at the posterior-mean globals (model scale), ``num_draws`` draws."""
    import jax

    post = model.factor_posterior(test, hide=view)
    description = model.model_
    mean, cov = np.asarray(post.mean, float), np.asarray(post.cov, float)
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(cov + 1e-9 * np.eye(cov.shape[-1]))
    zs = mean + np.einsum("nij,snj->sni", chol, rng.standard_normal((num_draws,) + mean.shape))
    lin, nuis = description.view_params(view, post.params)
    lik = description.view(view).likelihood
    eta = jax.vmap(lambda z: description.linear_predictor(view, lin, post.data, z))(zs)
    draws = np.asarray(lik.distribution(eta, nuis).sample(jax.random.PRNGKey(seed)))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    vd = post.data["views"][view]
    y = np.where(np.asarray(vd["mask"]), np.asarray(vd["y"]), np.nan)
    return interval_coverage(y, lo, hi)


class _RGFactor(Method):
    estimator = None

    def _estimator(self, train, seed, **extra):
        import rgfactor as rgf

        params = {k: v for k, v in self.params.items() if k not in HARNESS_PARAMS}
        if params.get("site_effects", "auto") == "auto":
            params["site_effects"] = train.site is not None
        params.setdefault("progress", False)   # the harness prints one line per fit; no bars from workers
        return getattr(rgf, self.estimator)(**params, **extra, random_state=seed)

    def _fit(self, model, train):
        self.seed_ = model.random_state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = model.fit(train)
        self.train_subjects_ = list(train.subjects)
        self.fit_diagnostics_ = {"engine": self.model_.diagnostics_.get("method"),
                                 "converged": self.model_.diagnostics_.get("converged")}

    def _n_factor_columns(self):
        return None

    def factors(self, data):
        k = self._n_factor_columns()
        if list(data.subjects) == self.train_subjects_:
            z = self.model_.factors_.to_numpy()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z = self.model_.transform(data).to_numpy()
        return z if k is None else z[:, :k]

    def heldout(self, test):
        out = {}
        views = [v for v in self.model_.config_.view_names if v != RESPONSE_VIEW and v in test.views]
        level = float(self.params.get("coverage", 0.9))
        num_draws = int(self.params.get("num_draws", 200))
        from rgfactor.model_selection import heldout_log_density

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for v in views:
                if self.params.get("heldout_density", True):
                    out[f"lpd_{v}"] = float(np.nanmean(heldout_log_density(self.model_, test, v, num_draws)))
                if level > 0 and test.likelihoods[v] == "gaussian":
                    out[f"coverage{round(100 * level)}_{v}"] = predictive_interval_coverage(self.model_, test, v, level, num_draws,
                                                                         self.seed_)
        return out


@register
class RgfactorGFA(_RGFactor):
    """rgfactor GFA (params: n_factors, method = engine 'cavi' | 'svi' | 'nuts' | 'auto', ...)."""

    name = "gfa"
    estimator = "GFA"

    def fit(self, train, target, seed):
        self._fit(self._estimator(train, seed), train)


@register
class RgfactorPCCA(_RGFactor):
    """rgfactor PCCA (params: n_shared, n_specific, method, ...); needs two views or more."""

    name = "pcca"
    estimator = "PCCA"

    def fit(self, train, target, seed):
        if len(train.view_names) < 2:
            raise NotApplicable("PCCA needs at least 2 views.")
        self._fit(self._estimator(train, seed), train)


@register
class RgfactorPPLS(_RGFactor):
    """rgfactor PPLS with the class target as a one-hot Bernoulli response view (params:
    n_components, method, ...): class scores = posterior predictive probabilities given the
    predictor views; factors = the predictor scores T."""

    name = "ppls"
    estimator = "PPLS"

    def fit(self, train, target, seed):
        if target.kind != "class":
            raise NotApplicable("PPLS here needs a class target (a Bernoulli response view).")
        onehot = pd.DataFrame((target.y.to_numpy()[:, None] == np.asarray(target.classes)[None, :]).astype(float),
                              index=train.subjects, columns=list(target.classes))
        views = {**{v: df.dropna(how="all") for v, df in train.views.items()}, RESPONSE_VIEW: onehot}
        data = MultiViewData.from_pandas(views, {**train.likelihoods, RESPONSE_VIEW: "bernoulli"}, site=train.site,
                                         covariates=train.covariates, transforms=train.transforms,
                                         size_factors=train.size_factors).subset(train.subjects)
        self._fit(self._estimator(train, seed, response=[RESPONSE_VIEW]), data)
        self.classes_ = list(target.classes)

    def _n_factor_columns(self):
        return int(self.params.get("n_components", 2))

    def factors(self, data):
        if list(data.subjects) == self.train_subjects_:
            return self.model_.factors_.to_numpy()[:, :self._n_factor_columns()]
        return super().factors(data)

    def predict(self, data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob = self.model_.predict(data)
        return prob.sel({prob.dims[1]: self.classes_}).to_numpy()
