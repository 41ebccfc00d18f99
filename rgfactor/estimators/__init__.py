"""Estimator classes: the Python front door (scikit-learn conventions, fitted attributes end in ``_``)."""

from rgfactor.estimators.base import FactorModel
from rgfactor.estimators.persistence import ESTIMATORS, load
from rgfactor.estimators.structures import GFA, PCCA, PPLS

__all__ = ["ESTIMATORS", "FactorModel", "GFA", "PCCA", "PPLS", "load"]
