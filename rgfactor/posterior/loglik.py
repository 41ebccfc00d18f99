"""Pointwise log-likelihood per view and subject over posterior draws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.generative.config import ModelConfig
from rgfactor.generative.likelihoods import get as get_likelihood
from rgfactor.generative.model import linear_predictor


def view_params(draw: dict, view: str) -> tuple[dict, dict]:
    """Split one draw's values into linear-predictor parameters and nuisance parameters of ``view``."""
    keys = (f"intercept_{view}", f"W_{view}", f"site_effect_{view}", f"beta_{view}")
    lin = {k: draw[k] for k in keys if k in draw}
    nuis = {}
    for name in ("sigma", "dispersion"):
        if f"{name}_{view}" in draw:
            nuis[name] = draw[f"{name}_{view}"]
    return lin, nuis


def subject_log_likelihood(draws: dict, data: dict, config: ModelConfig, chunk: int = 25) -> dict[str, np.ndarray]:
    """log p(y_n^(m) | theta) summed over the observed features of each subject, per view.

    Returns dict view -> (chain, draw, subject); a subject without the view has 0 there (this is
    the per-subject quantity that PSIS-LOO by subject sums over views).
    """
    out = {}
    for view, likelihood, _ in config.views:
        lik = get_likelihood(likelihood)
        vd = data["views"][view]

        def one(draw, view=view, lik=lik, vd=vd):
            lin, nuis = view_params(draw, view)
            eta = linear_predictor(view, lin, data, draw["Z"])
            lp = lik.distribution(eta, nuis).log_prob(vd["y"])
            return jnp.where(vd["mask"], lp, 0.0).sum(-1)

        names = ["Z"] + [k for k in draws if k.endswith(f"_{view}")]
        c, s = draws["Z"].shape[:2]
        flat = {k: draws[k].reshape((c * s,) + draws[k].shape[2:]) for k in names}
        f = jax.jit(jax.vmap(one))
        parts = [np.asarray(f({k: jnp.asarray(v[i:i + chunk]) for k, v in flat.items()}))
                 for i in range(0, c * s, chunk)]
        out[view] = np.concatenate(parts).reshape(c, s, -1)
    return out
