"""One entry point to every inference engine: raw posterior draws plus engine diagnostics.

Which engines can fit a model is a property of its components (:attr:`Model.engines`); the
estimators pick one (:func:`resolve_engine`), and this module runs it on the model's arrays and
returns what the posterior layer needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import SpecError
from rgfactor.generative.model import Model

METHODS = ("auto", "cavi", "svi", "nuts")
# max_iter (SVI steps / CAVI sweeps) and tol (relative ELBO change) of each engine when left None
ENGINE_DEFAULTS = {"svi": {"max_iter": 5000, "tol": 1e-5, "num_draws": 200},
                   "cavi": {"max_iter": 1000, "tol": 1e-6, "num_draws": 200},
                   "cavi_stochastic": {"max_iter": 100, "tol": 1e-4, "num_draws": 200},
                   "nuts": {"num_draws": 500}}
# 'auto' picks the first engine in this order that covers every component of the model
AUTO_ORDER = ("cavi", "svi")
# sparsity='auto': the first loadings prior in this order whose component the engine can fit
# (spike-and-slab for the closed-form engine; ARD for SVI/NUTS, where the horseshoe under mean-field
# SVI recovered factors less well, 0.91/0.97/0.86 vs 0.98/0.99/0.97)
AUTO_SPARSITY = ("spike_and_slab", "ard")


def unsupported(model: Model, engine: str) -> list:
    """The components of ``model`` that ``engine`` cannot fit (empty when it can fit the model)."""
    comps = [("factor prior", model.factors)] + [(f"view '{v.name}'", c) for v in model.views for c in v.components()]
    return [(where, c) for where, c in comps if engine not in c.engines]


def resolve_engine(method: str, sparsity: str, build):
    """(engine, sparsity, config, model) for a requested ``method`` and ``sparsity`` ('auto' allowed).

    ``build(sparsity)`` returns the (config, model) of the estimator with that loadings prior. The
    engines a model supports come from its components (:attr:`Model.engines`).

    Raises
    ------
    SpecError  for an unknown method, or a method that cannot fit one of the model's components.
    """
    if method not in METHODS:
        raise SpecError(f"unknown method '{method}'; choose one of {METHODS}.")
    last = None
    for engine in (AUTO_ORDER if method == "auto" else (method,)):
        for sp in (AUTO_SPARSITY if sparsity == "auto" else (sparsity,)):
            config, model = build(sp)
            if engine in model.engines:
                return engine, sp, config, model
            last = (engine, sp, model)
    engine, sp, model = last
    others = [e for e in ("cavi", "svi", "nuts") if e in model.engines]
    use = " or ".join(repr(o) for o in others)
    missing = unsupported(model, engine)
    if any(c is v.loadings for _, c in missing for v in model.views) and sparsity != "auto":
        raise SpecError(f"sparsity='{sp}' is not available with method='{engine}'; use method={use or 'another'}, "
                        "or sparsity='ard'.")
    names = ", ".join(f"{type(c).__name__} ({where})" for where, c in missing)
    raise SpecError(f"method='{engine}' has no update for {names}; use method={use or 'another'}.")


@dataclass
class EngineRun:
    """draws: name -> (chain, draw, ...), unaligned, in the reported parameterisation for the
    closed-form engine and the engine's own for NumPyro; sample_stats: NUTS only; diagnostics: JSON-able."""

    draws: dict
    sample_stats: dict | None = None
    diagnostics: dict = field(default_factory=dict)


def run_engine(method: str, model: Model, arrays: ModelArrays, mdata: dict, *, init: dict | None,
               max_iter: int | None, tol: float | None, learning_rate: float, num_draws: int | None, num_warmup: int,
               num_chains: int, random_state: int, progress, batch_size: int | None = None,
               devices=None, while_compiling=None) -> EngineRun:
    """Run ``method`` ('cavi', 'svi' or 'nuts') on ``model`` and the data ``arrays``/``mdata``.

    ``init`` holds the NumPyro engines' initial values in the reported parameterisation (the
    closed-form engine makes its own start). ``max_iter``/``tol``/``num_draws`` of None take the
    engine's defaults (ENGINE_DEFAULTS). ``batch_size`` (stochastic VI) and ``devices`` (subject
    sharding) apply to the closed-form engine. ``while_compiling`` (a function of no arguments) runs while
    the engine's main program compiles on a worker thread (the closed-form sweep, SVI's optimisation chunk,
    NUTS's transitions: :mod:`rgfactor.inference.overlap`). NUTS runs with the target acceptance and dense mass-matrix
    blocks the model's components declare (``Model.nuts_target_accept``/``nuts_dense_mass``; no block:
    NumPyro's diagonal mass matrix).
    """
    key = "cavi_stochastic" if method == "cavi" and batch_size is not None else method
    if key == "cavi_stochastic" and devices is not None:
        raise SpecError("batch_size and devices do not combine: stochastic VI runs its minibatches on one device. "
                        "On several devices, fit by full-batch sweeps sharded over subjects (devices=, no "
                        "batch_size; docs/scaling.md).")
    stop = {k: v if v is not None else ENGINE_DEFAULTS.get(key, {}).get(k)
            for k, v in (("max_iter", max_iter), ("tol", tol), ("num_draws", num_draws))}
    num_draws = stop.pop("num_draws")
    if key == "cavi_stochastic":
        from rgfactor.inference.cavi_stochastic import fit_cavi_stochastic

        res = fit_cavi_stochastic(model, arrays, batch_size=batch_size, n_epochs=stop["max_iter"], tol=stop["tol"],
                                  num_draws=num_draws, random_state=random_state, progress=progress)
        return EngineRun(res.draws, diagnostics={"elbo": [], "n_steps": int(res.n_iter), "batch_size": int(batch_size),
                                                 "converged": bool(res.converged), "warnings": []})
    if method == "cavi":
        from rgfactor.inference.cavi import fit_cavi

        res = fit_cavi(model, arrays, **stop, num_draws=num_draws, random_state=random_state, progress=progress,
                       devices=devices, while_compiling=while_compiling)
        return EngineRun(res.draws, diagnostics={"elbo": np.asarray(res.elbo).tolist(), "n_steps": int(res.n_iter),
                                                 "converged": bool(res.converged), "warnings": []})
    if method == "svi":
        from rgfactor.inference.svi import fit_svi

        res = fit_svi(model.program("svi"), mdata, init_values=model.init_values(init, "svi"),
                      num_steps=stop["max_iter"], learning_rate=learning_rate, tol=stop["tol"], num_draws=num_draws,
                      random_state=random_state, progress=progress, while_compiling=while_compiling)
        return EngineRun(res.draws, diagnostics={"elbo": res.elbo.tolist(), "n_steps": res.n_steps,
                                                 "converged": res.converged, "warnings": list(res.warnings)})
    from rgfactor.inference.nuts import fit_nuts

    res = fit_nuts(model.program("nuts"), mdata, init_values=model.init_values(init, "nuts"),
                   num_warmup=num_warmup, num_samples=num_draws, num_chains=num_chains, random_state=random_state,
                   target_accept=model.nuts_target_accept, dense_mass=model.nuts_dense_mass,
                   progress=progress, while_compiling=while_compiling)
    return EngineRun(res.draws, sample_stats=res.sample_stats, diagnostics={"warnings": []})
