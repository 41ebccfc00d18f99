"""Dimension and variable names shared by every layer (see ARCHITECTURE.md, "Names")."""

from __future__ import annotations

SUBJECT = "subject"
FACTOR = "factor"
VIEW = "view"
SITE = "site"
COVARIATE = "covariate"
REGION = "region"
COORDINATE = "coordinate"
CHAIN = "chain"
DRAW = "draw"

LIKELIHOODS = ("gaussian", "negative_binomial", "bernoulli", "poisson")


def feature_dim(view: str) -> str:
    """Name of the feature dimension of ``view``, e.g. ``'rna_feature'``."""
    return f"{view}_feature"


def loadings_name(view: str) -> str:
    return f"W_{view}"


def factor_labels(n_factors: int) -> list[str]:
    """Coordinate labels of the factor dimension: ``['Factor1', 'Factor2', ...]``."""
    return [f"Factor{k + 1}" for k in range(n_factors)]
