"""Pointwise log-likelihood per view and subject over posterior draws."""

from __future__ import annotations

import jax
import numpy as np

from rgfactor.generative.model import Model


def subject_log_likelihood(draws: dict, data: dict, model: Model, chunk: int = 25) -> dict[str, np.ndarray]:
    """log p(y_n^(m) | theta) summed over the observed features of each subject, per view.

    The likelihood's parameters are those the model declares for the view (loadings, term
    coefficients, nuisance), read by :meth:`Model.view_params`.

    Returns dict view -> (chain, draw, subject); a subject without the view has 0 there (this is
    the per-subject quantity that PSIS-LOO by subject sums over views).
    """
    out = {}
    for view in model.view_names:
        names = model.view_inputs(view)

        def one(draw, view=view):
            return model.log_likelihood(view, draw, data, draw["Z"]).sum(-1)

        c, s = draws["Z"].shape[:2]
        flat = {k: draws[k].reshape((c * s,) + draws[k].shape[2:]) for k in names}
        f = jax.jit(jax.vmap(one))
        parts = [np.asarray(f({k: v[i:i + chunk] for k, v in flat.items()})) for i in range(0, c * s, chunk)]
        out[view] = np.concatenate(parts).reshape(c, s, -1)
    return out
