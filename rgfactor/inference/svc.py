"""Inference for the SVC model: NUTS (full posterior) and SVI (a multivariate-normal guide), in float64.

Both run the model's NumPyro program (:meth:`rgfactor.generative.svc.SVCModel.program`) inside
``jax.enable_x64`` (the collapsed Gaussian program factorises an M x M matrix whose entries grow
with the number of units). They return the draws of the sampled sites with leading (chain, draw)
axes; the posterior layer derives the reported variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np

from rgfactor.inference.nuts import run_sampler
from rgfactor.inference.svi import Recipe, draw, optimise, sample_sites, start

MAX_FULL_RANK = 600   # SVI guide: full-rank covariance up to this many latent dimensions, low rank beyond


@dataclass
class SVCRun:
    """draws: name -> (chain, draw, ...) of the sampled sites; sample_stats: NUTS statistics (chain, draw);
    diagnostics: method, ELBO trace, convergence, warnings."""

    draws: dict
    sample_stats: dict | None
    diagnostics: dict = field(default_factory=dict)


def fit_nuts(program, data: dict, *, num_warmup: int = 500, num_samples: int = 500, num_chains: int = 2,
             target_accept: float = 0.9, max_tree_depth: int = 10, random_state: int = 0,
             progress: bool = False, dense_mass=False) -> SVCRun:
    """NUTS (Hoffman & Gelman 2014) with a mass matrix adapted in warmup (diagonal, or dense over
    ``dense_mass``: True or a list of site-name tuples, numpyro's structured mass matrix); chains start at
    the prior median. Chains run one after another; the sampler is compiled once per model and settings
    (:func:`rgfactor.inference.nuts.run_sampler`)."""
    with jax.enable_x64(True):
        run = run_sampler(program, data, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                          target_accept=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                          random_state=random_state, progress=progress)
    draws, s = run.draws, run.sample_stats
    stats = {"diverging": s["diverging"], "n_steps": s["num_steps"], "acceptance_rate": s["accept_prob"]}
    return SVCRun(draws, stats, {"method": "nuts", "n_divergent": int(stats["diverging"].sum())})


def fit_svi(program, data: dict, *, num_steps: int = 20000, learning_rate: float = 0.01, tol: float = 1e-4,
            chunk: int = 500, num_draws: int = 1000, random_state: int = 0, progress: bool = False) -> SVCRun:
    """SVI with a full-rank (low-rank beyond :data:`MAX_FULL_RANK` latent dimensions) Gaussian guide
    on the unconstrained space (Kucukelbir et al. 2017, JMLR 18:14) and Adam with a cosine-decayed step.

    Runs ``chunk`` steps per compiled call and stops when the mean loss of a chunk changes by less than
    ``tol`` (relative) from the previous one, or after ``num_steps`` (:func:`rgfactor.inference.svi.optimise`).

    Raises
    ------
    InferenceError  if the ELBO becomes non-finite.
    """
    rng = jax.random.PRNGKey(random_state)
    k_init, k_draw = jax.random.split(rng)
    with jax.enable_x64(True):
        sites = sample_sites(program, data)
        n_latent = sum(int(np.prod(shape)) for shape, observed in sites.values() if not observed)
        guide = {"guide": "mvn"} if n_latent <= MAX_FULL_RANK else {"guide": "lowrank", "rank": 40}
        recipe = Recipe(program, **guide, learning_rate=float(learning_rate), decay_steps=int(num_steps))
        state = start(recipe, k_init, data)
        state, losses, converged, warns = optimise(recipe, state, data, num_steps=num_steps, chunk=chunk, tol=tol,
                                                   progress=progress, min_chunks=4,
                                                   hint="extreme counts, an offset far from the counts' scale")
        draws = {k: v[None] for k, v in draw(recipe, k_draw, state, data, num_draws).items() if k in sites}
    elbo = -np.concatenate(losses)
    return SVCRun(draws, None, {"method": "svi", "elbo": elbo, "n_steps": len(elbo), "converged": converged,
                                "n_latent": n_latent, "warnings": warns})
