"""rgfactor: Bayesian latent-factor models for radiogenomics (GFA, PCCA, PPLS) in JAX/NumPyro.

    import rgfactor as rgf
    data = rgf.MultiViewData.from_pandas(views, likelihoods, site=site)
    model = rgf.GFA(n_factors=10, site_effects=True).fit(data)
"""

__version__ = "0.1.0"

from rgfactor import errors, model_selection, simulate  # noqa: E402
from rgfactor.data import MultiViewData  # noqa: E402
from rgfactor.estimators import GFA, PCCA, PPLS  # noqa: E402
from rgfactor.posterior.io import load  # noqa: E402

__all__ = ["GFA", "PCCA", "PPLS", "MultiViewData", "errors", "load", "model_selection", "simulate", "__version__"]
