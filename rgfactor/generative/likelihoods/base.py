"""The likelihood (noise) component of a view and the registry of likelihoods.

A likelihood maps the linear predictor ``eta`` (link scale) and its nuisance parameters to a NumPyro
distribution, its mean on the data scale and its latent-scale observation variance (used by
:mod:`rgfactor.posterior.variance`). It declares its nuisance variables (``sigma_<view>``,
``dispersion_<view>``, ...), so that the log-likelihood, LOO, predictions and the variance explained
read them by declaration. Where the closed-form engine covers it, it also gives the Gaussian form of
its expected log-likelihood (coefficients ``p``, ``a`` with E[log p(y | eta)] >= sum a eta - p eta^2 / 2
+ const) and the updates of its nuisance parameters.

Add a likelihood with :func:`register` (see docs/extending.md); ``tests/test_likelihoods.py`` checks
each against scipy.
"""

from __future__ import annotations

import numpy as np
import numpyro

from rgfactor.data.kinds import register_data_kind
from rgfactor.errors import SpecError
from rgfactor.generative.components import NUMPYRO_ENGINES
from rgfactor.generative.variables import Variable

LIKELIHOODS: dict[str, Likelihood] = {}


class Likelihood:
    """An observation model on a link scale. Subclasses set the class attributes and implement
    ``distribution``, ``mean``, ``latent_variance`` and, for the closed-form engine, the ``cavi_*`` methods.

    Attributes
    ----------
    name : registry name.
    link : 'identity', 'log' or 'logit'.
    nuisance_variables : declared per-feature nuisance variables (templates with ``{view}``); the
        key of each in ``distribution``'s params is the name without ``_{view}``.
    engines : engines that can fit a view with this likelihood.
    dense : the closed-form engine may use per-feature sufficient statistics when the view is fully
        observed and has no offset (a per-feature constant precision; Gaussian only).
    variance_depends_on_eta : whether ``latent_variance`` depends on eta (False: it is a function of
        the nuisance parameters only, e.g. sigma^2).
    data_kind : the values it observes: 'real', 'count' or 'binary' (:mod:`rgfactor.data.kinds`),
        which decides the data layer's checks and preprocessing.
    """

    name: str = ""
    link: str = "identity"
    nuisance_variables: tuple[Variable, ...] = ()
    engines = NUMPYRO_ENGINES
    dense = False
    variance_depends_on_eta = True
    data_kind = "real"

    # ------------------------------------------------------------------ declaration and NumPyro
    @property
    def nuisance(self) -> tuple[str, ...]:
        return tuple(v.name.replace("_{view}", "") for v in self.nuisance_variables)

    def variables(self, view: str) -> tuple[Variable, ...]:
        return tuple(v.bind(view=view) for v in self.nuisance_variables)

    def sample_nuisance(self, view: str, n_features: int, scale, engine: str = "svi", data: dict | None = None) -> dict:
        """Sample the nuisance parameters; returns {short name: value} for :meth:`distribution`
        (``data``: the model data, for nuisance that varies with the subject)."""
        return {}

    def distribution(self, eta, params: dict):
        raise NotImplementedError

    def mean(self, eta, params: dict):
        raise NotImplementedError

    def latent_variance(self, eta, params: dict):
        raise NotImplementedError

    def observe(self, view: str, eta, params: dict, y, mask, rows: str = "subject") -> None:
        """The likelihood of the observed entries of a view; missing entries (mask False) are left out.
        ``y`` None samples the view (prior predictive). ``rows``: the name of the plate of the view's rows
        ('subject'; a region-level view of multi-region data has (subject, region) rows)."""
        n_subjects, n_features = eta.shape
        with numpyro.plate(rows, n_subjects, dim=-2), numpyro.plate(f"{view}_feature", n_features, dim=-1):
            numpyro.sample(f"y_{view}", self.distribution(eta, params).mask(mask), obs=y)

    def params(self, view: str, values: dict, data: dict | None = None) -> dict:
        """{short name: value} of the nuisance parameters in a dict of draws or means (``data``: the
        model data, for nuisance that varies with the subject)."""
        out = {}
        for short, var in zip(self.nuisance, self.nuisance_variables):
            name = var.name.format(view=view)
            if name in values:
                out[short] = values[name]
        return out

    def derive(self, view: str, draws: dict) -> dict:
        return draws

    def init_values(self, view: str, values: dict, engine: str) -> dict:
        return values

    def cavi_data(self, arrays) -> dict:
        """Extra (subject-leading) arrays the closed-form engine's updates of this likelihood read."""
        return {}

    def cavi_feature_data(self, y, mask) -> dict:
        """Summaries computed once from the whole view's ``y`` and ``mask`` (NumPy, (subjects, features)) for
        the full-batch closed-form engine (per-feature arrays, a table of distinct counts, a constant of the
        ELBO); a minibatch engine does not pass them, so an update that reads them must also work without."""
        return {}

    def conjugate_observation(self):
        """The observation model the closed-form engine fits (self unless declared otherwise)."""
        return self


def register(lik: Likelihood) -> Likelihood:
    """Add ``lik`` to the registry under ``lik.name`` (replacing an entry of the same name)."""
    if not lik.name:
        raise SpecError("a likelihood needs a name.")
    LIKELIHOODS[lik.name] = lik
    register_data_kind(lik.name, lik.data_kind)
    return lik


def get(name: str) -> Likelihood:
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise SpecError(f"unknown likelihood '{name}'; registered: {sorted(LIKELIHOODS)}") from None


def masked_sum(mask, x):
    return (mask * x).sum()


def numpy_scale(scale) -> np.ndarray:
    return np.maximum(np.asarray(scale, dtype=np.float64), 1e-6)
