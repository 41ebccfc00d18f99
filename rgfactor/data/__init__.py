"""Data layer: validated multi-view cohorts and their preprocessing."""

from rgfactor.data.arrays import ModelArrays, ViewArrays
from rgfactor.data.multiview import MultiViewData
from rgfactor.data.preprocess import Preprocessing, size_factors

__all__ = ["ModelArrays", "MultiViewData", "Preprocessing", "ViewArrays", "size_factors"]
