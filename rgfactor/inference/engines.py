"""One entry point to every inference engine: raw posterior draws plus engine diagnostics.

The estimators resolve the method and prior (``rgfactor.estimators``); this module runs the
chosen engine on the model's arrays and returns what the posterior layer needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.generative.config import ModelConfig
from rgfactor.generative.model import factor_model

# max_iter (SVI steps / CAVI sweeps) and tol (relative ELBO change) of each engine when left None
ENGINE_DEFAULTS = {"svi": {"max_iter": 5000, "tol": 1e-5}, "cavi": {"max_iter": 1000, "tol": 1e-6}}


@dataclass
class EngineRun:
    """draws: name -> (chain, draw, ...), unaligned; sample_stats: NUTS only; diagnostics: JSON-able."""

    draws: dict
    sample_stats: dict | None = None
    diagnostics: dict = field(default_factory=dict)


def run_engine(method: str, arrays: ModelArrays, mdata: dict, config: ModelConfig, *, init: dict | None,
               max_iter: int | None, tol: float | None, learning_rate: float, num_draws: int, num_warmup: int,
               num_chains: int, random_state: int, progress: bool) -> EngineRun:
    """Run ``method`` ('cavi', 'svi' or 'nuts') on the model ``config`` and the data ``arrays``/``mdata``.

    ``init`` holds the NumPyro engines' initial values (the CAVI engine makes its own start).
    ``max_iter``/``tol`` of None take the engine's defaults (ENGINE_DEFAULTS).
    """
    stop = {k: v if v is not None else ENGINE_DEFAULTS.get(method, {}).get(k)
            for k, v in (("max_iter", max_iter), ("tol", tol))}
    if method == "cavi":
        from rgfactor.inference.cavi import fit_cavi

        res = fit_cavi(arrays, config.n_factors, sparsity=config.sparsity, site_effects=config.site_effects,
                       **stop, num_draws=num_draws, random_state=random_state, progress=progress)
        return EngineRun(res.draws, diagnostics={"elbo": np.asarray(res.elbo).tolist(), "n_steps": int(res.n_iter),
                                                 "converged": bool(res.converged), "warnings": []})
    model = partial(factor_model, config=config)
    if method == "svi":
        from rgfactor.inference.svi import fit_svi

        res = fit_svi(model, mdata, init_values=init, num_steps=stop["max_iter"], learning_rate=learning_rate,
                      tol=stop["tol"], num_draws=num_draws, random_state=random_state, progress=progress)
        return EngineRun(res.draws, diagnostics={"elbo": res.elbo.tolist(), "n_steps": res.n_steps,
                                                 "converged": res.converged, "warnings": list(res.warnings)})
    from rgfactor.inference.nuts import fit_nuts

    res = fit_nuts(model, mdata, init_values=init, num_warmup=num_warmup, num_samples=num_draws,
                   num_chains=num_chains, random_state=random_state, progress=progress)
    return EngineRun(res.draws, sample_stats=res.sample_stats, diagnostics={"warnings": []})
