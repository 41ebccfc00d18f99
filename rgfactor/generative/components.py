"""The component protocol: what a part of the model declares, once, for every engine and layer.

A model (:class:`rgfactor.generative.model.Model`) is a factor prior plus, per view, a loadings prior,
a tuple of linear-predictor terms and a likelihood. Each component is a frozen (hashable) dataclass
holding its settings and implementing:

declaration
    ``variables(view)`` -> tuple of :class:`~rgfactor.generative.variables.Variable` (name, dims,
    role), and ``engines`` -> the engines that can fit it. A model's engines are the intersection of
    its components' (:attr:`Model.engines`): no engine tables elsewhere.
NumPyro block
    ``sample(...)`` samples the component's variables in a NumPyro program. ``engine`` selects the
    parameterisation: ``'svi'`` (centred, as declared), ``'nuts'`` (reparameterised where the
    geometry needs it) and ``'cavi'`` (the conjugate form the closed-form engine fits; runnable by
    NumPyro for ``log_density`` and prior predictive draws, and the reference the closed-form
    engine is tested against).
closed-form (CAVI) part, where conjugate
    ``cavi_init``, ``cavi_update``, ``cavi_moments`` (q -> the moments its expected log prior
    needs), ``point_moments`` (values -> the same moments at a point mass), ``cavi_elp`` (moments
    -> E_q[log p]), ``cavi_entropy`` and ``cavi_draws``. The engine's ELBO is
    sum(cavi_elp(cavi_moments(q))) + E_q[log lik] + sum(cavi_entropy(q)), so the test that
    ``cavi_elp(point_moments(v))`` plus the likelihood equals NumPyro's ``log_density`` of the
    ``'cavi'`` program at ``v`` (``tests/test_components.py``) keeps the two engines one model.
NUTS settings (optional)
    ``nuts_target_accept``: the target acceptance probability the component's NUTS form needs (the
    model takes the highest; :data:`NUTS_TARGET_ACCEPT` when none sets it); ``nuts_dense_mass``: tuples
    of its sampled sites that get a dense mass-matrix block (numpyro's ``dense_mass``).
posterior
    ``derive(draws)`` -> reported variables computed from sampled ones (site_effect = raw * sd, ...).

Components never import from the inference, posterior or report layers.
"""

from __future__ import annotations

ENGINES = ("cavi", "svi", "nuts")
NUMPYRO_ENGINES = frozenset({"svi", "nuts"})
ALL_ENGINES = frozenset(ENGINES)
NUTS_TARGET_ACCEPT = 0.9


def active_mask(activity, n_factors: int):
    """(K,) float 0/1 activity of a view's factors (all ones when ``activity`` is None)."""
    import numpy as np

    if activity is None:
        return np.ones(n_factors)
    return np.asarray(activity, dtype=float)
