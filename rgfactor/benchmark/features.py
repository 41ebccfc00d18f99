"""Per-view feature matrices for the methods that take plain arrays (scikit-learn, mofapy2).

The rgfactor preprocessing is fitted on the training subjects and re-applied to held-out ones, so
every method sees the same features: Gaussian views as rgfactor transforms them (standardised or
Yeo-Johnson), count views as log1p of size-factor-normalised counts, Bernoulli views as 0/1. Each
column is then centred and scaled with training statistics; missing entries and missing views are
NaN (:meth:`ViewFeatures.transform`) or the training mean, 0 (``impute=True``).
"""

from __future__ import annotations

import warnings

import numpy as np

from rgfactor.data.multiview import MultiViewData


class ViewFeatures:
    """Fit on training subjects, then ``transform`` any subjects: dict view -> (n_subjects, n_features)."""

    def fit(self, train: MultiViewData) -> ViewFeatures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")    # constant features dropped: the rgfactor fit warns about it too
            self.prep_ = train.fit_preprocessing()
        raw = self._raw(train)
        self.likelihoods_ = {v.name: v.likelihood for v in train.to_arrays(self.prep_).views}
        self.mean_ = {v: np.nan_to_num(np.nanmean(x, axis=0)) if np.isfinite(x).any() else np.zeros(x.shape[1])
                      for v, x in raw.items()}
        self.sd_ = {}
        for v, x in raw.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # an all-NaN column
                sd = np.nan_to_num(np.nanstd(x, axis=0))
            self.sd_[v] = np.where(sd > 1e-12, sd, 1.0)
        return self

    def _raw(self, data: MultiViewData) -> dict:
        out = {}
        for va in data.to_arrays(self.prep_).views:
            y = np.where(va.mask, va.y, np.nan)
            if va.likelihood in ("negative_binomial", "poisson"):
                y = np.log1p(y / np.exp(va.log_offset)[:, None])
            out[va.name] = y
        return out

    def transform(self, data: MultiViewData, *, impute: bool = False, scale: bool = True) -> dict:
        """dict view -> (n_subjects, n_features) in ``data``'s subject order; ``scale=False`` keeps the
        unscaled values (0/1 for Bernoulli views)."""
        out = {}
        for v, x in self._raw(data).items():
            if scale:
                x = (x - self.mean_[v]) / self.sd_[v]
            if impute:
                x = np.where(np.isnan(x), 0.0 if scale else self.mean_[v], x)
            out[v] = x
        return out

    def concat(self, data: MultiViewData, views=None) -> np.ndarray:
        """The views side by side (early fusion), scaled and imputed: (n_subjects, sum of features)."""
        mats = self.transform(data, impute=True)
        return np.concatenate([mats[v] for v in (views or mats)], axis=1)

    def blocks(self, views=None) -> list[tuple[str, np.ndarray]]:
        """(view, column indices) of each view in :meth:`concat`'s columns."""
        out, start = [], 0
        for v in views or self.mean_:
            d = len(self.mean_[v])
            out.append((v, np.arange(start, start + d)))
            start += d
        return out
