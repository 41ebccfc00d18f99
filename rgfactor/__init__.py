"""rgfactor: Bayesian latent-factor models for radiogenomics (GFA, PCCA, PPLS) in JAX/NumPyro.

    import rgfactor as rgf
    data = rgf.MultiViewData.from_pandas(views, likelihoods, site=site)
    model = rgf.GFA(n_factors=10, site_effects=True).fit(data)

The public names are imported on first use, so ``import rgfactor`` (and ``rgfactor --help``) does
not pay for JAX, NumPyro and ArviZ until a model is built.
"""

from __future__ import annotations

import importlib
import os
import sys

__version__ = "0.2.0"

# With the opt-in persistent compilation cache (RGFACTOR_COMPILATION_CACHE=1, rgfactor.inference.jaxcache)
# XLA:CPU prints two error lines for every program it loads (jax-ml/jax#38445: LLVM tuning flags checked
# as CPU features). Then silence XLA's C++ log below FATAL, unless you set TF_CPP_MIN_LOG_LEVEL; with JAX
# imported before rgfactor it is too late, and the cache stays off.
if ("jax" not in sys.modules and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        and os.environ.get("RGFACTOR_COMPILATION_CACHE", "").strip().lower() in ("1", "true", "on", "yes")):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

_LAZY = {
    "MultiViewData": ("rgfactor.data.multiview", "MultiViewData"),
    "GFA": ("rgfactor.estimators", "GFA"),
    "PCCA": ("rgfactor.estimators", "PCCA"),
    "PPLS": ("rgfactor.estimators", "PPLS"),
    "load": ("rgfactor.estimators", "load"),
    "Mediation": ("rgfactor.mediation", "Mediation"),
    "errors": ("rgfactor.errors", None),
    "model_selection": ("rgfactor.model_selection", None),
    "active_factors": ("rgfactor.model_selection", "active_factors"),
    "simulate": ("rgfactor.simulate", None),
    "summary": ("rgfactor.posterior.summary", "summary"),
    "SVC": ("rgfactor.svc", "SVC"),
}

__all__ = ["GFA", "PCCA", "PPLS", "SVC", "Mediation", "MultiViewData", "active_factors", "errors", "load",
           "model_selection", "simulate", "summary", "__version__"]


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'rgfactor' has no attribute '{name}'") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
