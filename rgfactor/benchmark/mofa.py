"""MOFA+ (mofapy2; Argelaguet et al. 2020, Genome Biol 21:111) as a benchmark method.

mofapy2 is in the ``bench`` extra. Inputs are the harness's per-view features (features.py):
Gaussian views standardised, count views as standardised log1p normalised counts (Gaussian: MOFA has
no negative binomial likelihood), Bernoulli views as 0/1 with MOFA's Bernoulli likelihood; missing
entries and views NaN (MOFA masks them). Params: ``n_factors`` (default 10), ``convergence_mode``
('fast' | 'medium' | 'slow', default 'fast'), ``max_iter`` (default 1000), ``spikeslab_weights``
(default true).

MOFA+ has no projection of new subjects, so held-out factors are computed here as the posterior
mode of z_n ~ N(0, I) given the subject's observed entries, the posterior-mean loadings and, for
Gaussian views, the noise precisions (exact posterior mean for Gaussian views); Bernoulli views enter
with the logit link eta = z W^T, as in MOFA's Bernoulli model (no intercept). Newton's method, 25 steps.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from scipy.special import expit

from rgfactor.benchmark.features import ViewFeatures
from rgfactor.benchmark.methods import Method, register
from rgfactor.errors import RGFactorError


def project(views: dict, loadings: dict, precisions: dict, likelihoods: dict, n_iter: int = 25) -> np.ndarray:
    """Posterior mode of z (n_subjects, K) given views (NaN = missing), loadings (D, K) and Gaussian
    noise precisions (D,) per view (module docstring)."""
    first = next(iter(views.values()))
    n, k = first.shape[0], next(iter(loadings.values())).shape[1]
    z = np.zeros((n, k))
    for _ in range(n_iter):
        grad, hess = -z.copy(), np.broadcast_to(-np.eye(k), (n, k, k)).copy()
        for v, y in views.items():
            w, m = loadings[v], ~np.isnan(y)
            y0 = np.where(m, y, 0.0)
            eta = z @ w.T
            if likelihoods[v] == "bernoulli":
                p = expit(eta)
                resid, curv = m * (y0 - p), m * p * (1 - p)
            else:
                resid, curv = m * precisions[v] * (y0 - eta), m * precisions[v]
            grad += resid @ w
            hess -= np.einsum("nd,dk,dl->nkl", curv, w, w)
        z = z - np.linalg.solve(hess, grad[..., None])[..., 0]
    return z


@register
class MOFA(Method):
    """MOFA+ via mofapy2 (module docstring)."""

    name = "mofa"

    def _inputs(self, data):
        scaled = self.features_.transform(data, scale=True)
        raw = self.features_.transform(data, scale=False)
        return {v: raw[v] if self.likelihoods_[v] == "bernoulli" else scaled[v] for v in scaled}

    def fit(self, train, target, seed):
        try:
            from mofapy2.run.entry_point import entry_point
        except ImportError as e:
            raise RGFactorError("the 'mofa' method needs mofapy2: pip install 'rgfactor[bench]'.") from e
        self.features_ = ViewFeatures().fit(train)
        self.likelihoods_ = {v: "bernoulli" if lik == "bernoulli" else "gaussian"
                             for v, lik in self.features_.likelihoods_.items()}
        views = self._inputs(train)
        names = list(views)
        with contextlib.redirect_stdout(io.StringIO()):
            ent = entry_point()
            ent.set_data_options(scale_views=False, center_groups=True)
            ent.set_data_matrix([[views[v]] for v in names], likelihoods=[self.likelihoods_[v] for v in names],
                                views_names=names)
            ent.set_model_options(factors=int(self.params.get("n_factors", 10)),
                                  spikeslab_weights=bool(self.params.get("spikeslab_weights", True)), ard_weights=True)
            ent.set_train_options(iter=int(self.params.get("max_iter", 1000)),
                                  convergence_mode=self.params.get("convergence_mode", "fast"), seed=seed,
                                  verbose=False, quiet=True)
            ent.build()
            ent.run()
        nodes = ent.model.nodes
        self.train_subjects_ = list(train.subjects)
        self.z_train_ = np.asarray(nodes["Z"].getExpectation())
        self.loadings_ = dict(zip(names, [np.asarray(w) for w in nodes["W"].getExpectation()]))
        taus = nodes["Tau"].getExpectation()
        self.precisions_ = {}
        for v, tau in zip(names, taus):
            tau = np.asarray(tau)
            self.precisions_[v] = tau.mean(axis=0) if tau.ndim == 2 else tau
        # Gaussian views were centred by MOFA with the training means; the features already have mean 0
        self.centres_ = {v: np.nanmean(views[v], axis=0) if self.likelihoods_[v] == "gaussian" else 0.0
                         for v in names}

    def factors(self, data):
        if list(data.subjects) == self.train_subjects_:
            return self.z_train_
        views = {v: x - self.centres_[v] for v, x in self._inputs(data).items()}
        return project(views, self.loadings_, self.precisions_, self.likelihoods_)
