"""Full posterior by the No-U-Turn Sampler (NumPyro)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS

from rgfactor.generative.components import NUTS_TARGET_ACCEPT
from rgfactor.inference.init import init_strategy
from rgfactor.inference.progress import show_sampler_bar


@dataclass
class NutsResult:
    """draws: dict name -> (chain, draw, ...); sample_stats: dict name -> (chain, draw)."""

    draws: dict
    sample_stats: dict


def fit_nuts(model, data: dict, *, init_values: dict, num_warmup: int = 500, num_samples: int = 500,
             num_chains: int = 2, target_accept: float = NUTS_TARGET_ACCEPT, max_tree_depth: int = 8, dense_mass=False,
             random_state: int = 0, progress=False) -> NutsResult:
    """Run NUTS (Hoffman & Gelman 2014) from ``init_values`` on every chain.

    ``model`` is the model's NUTS program (:meth:`Model.program` with engine 'nuts': the components
    choose their parameterisation there) and ``init_values`` are on its sampled sites
    (:meth:`Model.init_values`). Chains run in parallel when there are at least ``num_chains`` JAX
    devices, else sequentially. ``dense_mass``: numpyro's (False: diagonal; a list of tuples of site
    names: dense blocks, :attr:`rgfactor.generative.model.Model.nuts_dense_mass`). Draws (sampled and
    deterministic sites) are returned unaligned; the posterior layer keeps the reported ones and aligns
    them.
    """
    init = {k: np.asarray(v) for k, v in init_values.items()}
    kernel = NUTS(model, init_strategy=init_strategy(init),
                  target_accept_prob=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass or False)
    method = "parallel" if jax.local_device_count() >= num_chains else "sequential"
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method=method, progress_bar=show_sampler_bar(progress))
    mcmc.run(jax.random.PRNGKey(random_state), data,
             extra_fields=("diverging", "num_steps", "adapt_state.step_size", "energy"))
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {"diverging": np.asarray(extra["diverging"]), "n_steps": np.asarray(extra["num_steps"]),
             "step_size": np.asarray(extra["adapt_state.step_size"]), "energy": np.asarray(extra["energy"])}
    return NutsResult(draws=draws, sample_stats=stats)
