"""Per-view preprocessing, fitted on training subjects and re-applied unchanged to new subjects.

The fitted parameters live in :class:`Preprocessing`, a plain JSON-able record, so a saved fit can
transform unseen subjects exactly as it transformed its training cohort.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.special import logit

from rgfactor.data.kinds import data_kind
from rgfactor.errors import DataError, DataWarning

TRANSFORMS = ("none", "standardize", "yeo-johnson")


def size_factors(counts: np.ndarray, log_geo_means: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median-of-ratios size factors (Anders & Huber 2010, Genome Biol 11:R106, eq. 5).

    The reference is the per-feature geometric mean over subjects. Features with a zero count in
    any subject are left out of the reference (DESeq2's default); when no feature is positive in
    every subject, the geometric mean is taken over positive counts only (DESeq2 "poscounts").

    Parameters
    ----------
    counts : (n_subjects, n_features) non-negative; NaN marks a missing entry.
    log_geo_means : (n_features,) reference log geometric means from a training cohort (NaN =
        feature not in the reference). Computed from ``counts`` when None.

    Returns
    -------
    sf : (n_subjects,) positive floats; geometric mean 1 over the subjects used to fit the reference.
        Subjects with no observed entry get 1.
    log_geo_means : (n_features,) the reference used.

    Raises
    ------
    DataError  if a subject with observed counts has no positive count among reference features.
    """
    counts = np.asarray(counts, dtype=float)
    observed = ~np.isnan(counts)
    rows = observed.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.where(observed & (counts > 0), np.log(np.where(observed, counts, 1.0)), np.nan)
    if log_geo_means is None:
        full = observed[rows] & (counts[rows] > 0)
        if full.all(axis=0).any():
            keep = full.all(axis=0)
            log_geo_means = np.where(keep, np.nanmean(np.where(full, logc[rows], np.nan), axis=0), np.nan)
        else:  # poscounts: geometric mean over positive counts, scaled by the fraction observed
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                log_geo_means = np.nanmean(logc[rows], axis=0)
    log_geo_means = np.asarray(log_geo_means, dtype=float)
    ref = np.isfinite(log_geo_means)
    ratios = np.where(ref[None, :], logc - np.where(ref, log_geo_means, 0.0)[None, :], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        log_sf = np.nanmedian(ratios, axis=1)
    bad = rows & ~np.isfinite(log_sf)
    if bad.any():
        raise DataError(
            f"cannot compute a size factor for subject index {int(np.flatnonzero(bad)[0])}: it has no "
            "positive count among the reference features. Drop the subject or pass size_factors='none'."
        )
    log_sf = np.where(rows, log_sf, 0.0)
    return np.exp(log_sf), log_geo_means


@dataclass
class ViewPreprocessing:
    """Fitted preprocessing of one view (all lists are per kept feature, JSON-able)."""

    likelihood: str
    features: list[str]
    transform: str = "none"
    yj_lambda: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    sd: list[float] = field(default_factory=list)
    log_geo_means: list[float] = field(default_factory=list)
    size_factors: str = "median_of_ratios"
    centre: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)


@dataclass
class Preprocessing:
    """Fitted preprocessing of a cohort: per view, plus site levels and covariate scaling."""

    views: dict[str, ViewPreprocessing]
    sites: list[str] = field(default_factory=list)
    covariate_names: list[str] = field(default_factory=list)
    covariate_mean: list[float] = field(default_factory=list)
    covariate_sd: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        views = {k: ViewPreprocessing(**v) for k, v in d["views"].items()}
        return cls(views=views, **{k: v for k, v in d.items() if k != "views"})


def _nan_float_list(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=float)]


def fit_view(name: str, likelihood: str, values: np.ndarray, features: list[str], transform: str,
             size_factor_method: str) -> ViewPreprocessing:
    """Fit the preprocessing of one view on its training subjects (drops constant features)."""
    if transform not in TRANSFORMS:
        raise DataError(f"view '{name}': unknown transform '{transform}'; choose one of {TRANSFORMS}.")
    kind = data_kind(likelihood)
    if transform != "none" and kind != "real":
        raise DataError(f"view '{name}' ({likelihood}): transform '{transform}' applies to views of real values "
                        "(gaussian) only.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(values, axis=0)
    constant = ~(sd > 0)
    if constant.any():
        dropped = [features[j] for j in np.flatnonzero(constant)]
        warnings.warn(f"view '{name}': dropping {len(dropped)} constant or all-missing feature(s), e.g. "
                      f"{dropped[:5]}", DataWarning, stacklevel=3)
    keep = ~constant
    if not keep.any():
        raise DataError(f"view '{name}' has no non-constant feature.")
    x = values[:, keep]
    feats = [f for f, k in zip(features, keep) if k]
    vp = ViewPreprocessing(likelihood=likelihood, features=feats, transform=transform,
                           size_factors=size_factor_method)
    if kind == "real":
        if transform == "yeo-johnson":
            lam = np.array([stats.yeojohnson(col[~np.isnan(col)])[1] for col in x.T])
            vp.yj_lambda = _nan_float_list(lam)
            x = _yeo_johnson(x, lam)
        if transform in ("standardize", "yeo-johnson"):
            vp.mean = _nan_float_list(np.nanmean(x, axis=0))
            vp.sd = _nan_float_list(np.nanstd(x, axis=0))
            x = (x - np.asarray(vp.mean)) / np.asarray(vp.sd)
        vp.centre = _nan_float_list(np.nanmean(x, axis=0))
        vp.scale = _nan_float_list(np.nanstd(x, axis=0))
    elif kind == "count":
        if size_factor_method == "median_of_ratios":
            sf, lgm = size_factors(x)
            vp.log_geo_means = _nan_float_list(lgm)
        elif size_factor_method == "none":
            sf = np.ones(x.shape[0])
        else:
            raise DataError(f"view '{name}': unknown size_factors '{size_factor_method}'; "
                            "use 'median_of_ratios' or 'none'.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            norm_mean = np.nanmean(x / sf[:, None], axis=0)
        vp.centre = _nan_float_list(np.log(norm_mean + 0.5))
        vp.scale = [1.0] * len(feats)
    else:  # binary
        freq = np.clip(np.nanmean(x, axis=0), 0.5 / x.shape[0], 1 - 0.5 / x.shape[0])
        vp.centre = _nan_float_list(logit(freq))
        vp.scale = [1.0] * len(feats)
    return vp


def _yeo_johnson(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=float)
    for j in range(x.shape[1]):
        col = x[:, j]
        ok = ~np.isnan(col)
        out[:, j] = np.nan
        out[ok, j] = stats.yeojohnson(col[ok], lmbda=lam[j])
    return out


def apply_view(vp: ViewPreprocessing, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a fitted view preprocessing to values already reindexed to ``vp.features``.

    Returns
    -------
    y : (n_subjects, n_features) model-scale values, NaN where missing.
    log_offset : (n_subjects,) log size factors (0 for non-count views).
    """
    x = np.asarray(values, dtype=float)
    log_offset = np.zeros(x.shape[0])
    kind = data_kind(vp.likelihood)
    if kind == "real":
        if vp.transform == "yeo-johnson":
            x = _yeo_johnson(x, np.asarray(vp.yj_lambda))
        if vp.transform in ("standardize", "yeo-johnson"):
            x = (x - np.asarray(vp.mean)) / np.asarray(vp.sd)
    elif kind == "count" and vp.size_factors == "median_of_ratios":
        sf, _ = size_factors(x, np.asarray(vp.log_geo_means))
        log_offset = np.log(sf)
    return x, log_offset
