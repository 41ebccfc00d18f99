"""View balance: per-view likelihood weights (a power, or tempered, posterior).

With views of very different sizes (851 radiomic features next to 20 mutation calls) the
log-likelihood is a sum over features, so the large view dominates the posterior of the factors: the
factors become mostly factors of the large view, and a small view's signal, however strong per
subject, is explained by few of them. A likelihood weight w_m per view changes the target to

    p_w(theta | y) ∝ p(theta) prod_m p(y_m | theta)^{w_m}

(a power posterior; Friel & Pettitt 2008, JRSS B 70:589; Bissiri, Holmes & Walker 2016, JRSS B
78:1103; the view scaling of MuVI, Qoku & Buettner 2023, AISTATS). What it means:

* it is **not** the posterior of the generative model: a view with w_m < 1 counts as if it had w_m
  times its observations (its parameters' intervals are wider than the model's posterior), one with
  w_m > 1 as if it were replicated (its intervals are narrower, over-confident by about sqrt(w_m));
  the factors' posterior mixes the two. Point summaries (which factors exist, their loadings' signs
  and relative sizes) are the quantities it is meant for; read its intervals as those of the tempered
  target, not as calibrated model-based uncertainty (use ``view_weights='none'`` for that);
* the pointwise log-likelihood stored for LOO and the report is the untempered log p(y | theta), so
  PSIS-LOO compares predictive densities on the data's own scale (the weights only change where the
  draws come from);
* with 'auto' each view gets the same total weight: w_m = D_total / (M D_m) for M views of D_m
  features (D_total = sum of D_m), so sum_m w_m D_m = D_total — the total weight of the data is that of
  the untempered model, shared equally between views.

Every engine reads the weight of a view from its ``ViewModel.weight`` (the model description): the
NumPyro program scales the view's observation site (``numpyro.handlers.scale``), the closed-form engine
multiplies the view's Gaussian coefficients, its nuisance statistics and its expected log-likelihood
(for a Polya-Gamma view this is exact: p(y | eta)^w is the PG form with b = w), and the new-subject
Laplace step multiplies the view's log-likelihood derivatives.
"""

from __future__ import annotations

from collections.abc import Mapping

from rgfactor.errors import SpecError

VIEW_WEIGHTS = ("auto", "none")


def balanced_weights(n_features: Mapping[str, int]) -> dict[str, float]:
    """Equal total weight per view: w_m = D_total / (M D_m) (see the module docstring)."""
    total, m = sum(n_features.values()), len(n_features)
    return {name: total / (m * d) for name, d in n_features.items()}


def resolve_view_weights(view_weights, n_features: Mapping[str, int]) -> tuple[tuple[str, float], ...] | None:
    """The ModelConfig form of an estimator's ``view_weights``.

    Parameters
    ----------
    view_weights : 'none' (or None; every weight 1), 'auto' (:func:`balanced_weights`) or a dict
        view -> weight > 0 (views left out get weight 1).
    n_features : view name -> number of features, in view order.

    Returns
    -------
    None (every weight 1) or a tuple of (view, weight) in view order.

    Raises
    ------
    SpecError  for another value, an unknown view or a weight that is not a finite positive number.
    """
    if view_weights is None or (isinstance(view_weights, str) and view_weights == "none"):
        return None
    if isinstance(view_weights, str):
        if view_weights != "auto":
            raise SpecError(f"view_weights must be 'auto', 'none' or a dict view -> weight, got {view_weights!r}.")
        weights = balanced_weights(n_features)
    elif isinstance(view_weights, Mapping):
        unknown = sorted(set(view_weights) - set(n_features))
        if unknown:
            raise SpecError(f"view_weights names view(s) {unknown} that the data do not have; views: "
                            f"{list(n_features)}.")
        weights = {name: view_weights.get(name, 1.0) for name in n_features}
        for name, w in weights.items():
            try:
                ok = float(w) > 0 and float(w) < float("inf")
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise SpecError(f"view_weights['{name}'] must be a finite number > 0, got {w!r}.")
    else:
        raise SpecError(f"view_weights must be 'auto', 'none' or a dict view -> weight, got {view_weights!r}.")
    if all(float(w) == 1.0 for w in weights.values()):
        return None
    return tuple((name, float(weights[name])) for name in n_features)
