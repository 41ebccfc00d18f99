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


SIZE_FACTORS = ("trimmed_ratio", "poscounts", "median_of_ratios", "none")
TRIM = 0.2    # trimmed_ratio: features whose log ratio is in the lowest or highest 20% are left out


def size_factors(counts: np.ndarray, log_geo_means: np.ndarray | None = None, method: str = "trimmed_ratio",
                 log_centre: float | None = None, subjects=None, view: str = "") -> tuple[np.ndarray, np.ndarray, float]:
    """Size factors of count data relative to a per-feature reference.

    ``method='trimmed_ratio'`` (default): the poscounts reference and pilot size factors below, then,
    per subject, the ratio of sums sum_d y_nd / sum_d ref_d over the features whose log ratio
    log((y_nd + 1/2) / (pilot_n ref_d + 1/2)) lies in the central 60% (20% trimmed at each end), in the
    spirit of edgeR's TMM (Robinson & Oshlack 2010, Genome Biol 11:R25). A sum uses every count where
    a median of discrete ratios cannot (at 1 count per entry the median is coarse), and the trimming
    keeps differentially abundant features out. Measured (N=200, D=300, NB, true log size factors
    sd 0.3; corr of estimated and true log size factors, without / with 10% of features 7-fold up in
    half the subjects): mean 1 count per entry 0.97 / 0.90, mean 2 0.98 / 0.96, mean 5 0.99 / 0.91;
    poscounts 0.82 / 0.73, 0.96 / 0.94, 0.99 / 0.93; median of ratios fails below mean 5 (no
    feature without a zero) and gives 0.87 at 5.
    ``method='poscounts'`` (DESeq2's estimateSizeFactors(type="poscounts"), Love, Huber &
    Anders 2014, Genome Biol 15:550, for sparse counts): the reference of feature d is
    exp(sum_{n: y_nd > 0} log y_nd / n_d), n_d the subjects with the feature observed (zeros count
    as log 1), features with no positive count are left out; subject n's log size factor is the
    median of log y_nd - log ref_d over its positive counts; log size factors are then centred to mean
    0 over the fitting subjects. It survives low counts (mean 1-5 per entry), where most features
    have a zero somewhere. ``method='median_of_ratios'`` (Anders & Huber 2010, Genome Biol 11:R106,
    eq. 5): the reference is the geometric mean over subjects of features positive in every subject
    only, which at low counts leaves a handful of features and noisy size factors.

    Parameters
    ----------
    counts : (n_subjects, n_features) non-negative; NaN marks a missing entry.
    log_geo_means : (n_features,) reference log values from a training cohort (NaN = feature not in
        the reference). Computed from ``counts`` when None.
    log_centre : mean log size factor of the training cohort (subtracted); computed when None.
    subjects, view : subject IDs and view name, for error messages.

    Returns
    -------
    sf : (n_subjects,) positive floats (geometric mean 1 over the fitting subjects). Subjects with
        no observed entry get 1.
    log_geo_means : (n_features,) the reference used.  log_centre : the centring used.

    Raises
    ------
    DataError  if a subject with observed counts has no positive count among the reference features
        (naming the subject and the view).
    """
    if method not in SIZE_FACTORS[:3]:
        raise DataError(f"unknown size factor method '{method}'; choose one of {SIZE_FACTORS}.")
    counts = np.asarray(counts, dtype=float)
    blocks = [slice(i, min(i + ROW_BLOCK, counts.shape[0])) for i in range(0, counts.shape[0], ROW_BLOCK)]
    rows = np.zeros(counts.shape[0], dtype=bool)
    for b in blocks:
        rows[b] = np.any(~np.isnan(counts[b]), axis=1)
    if log_geo_means is None:
        log_geo_means = _reference(counts, rows, blocks, method)
    log_geo_means = np.asarray(log_geo_means, dtype=float)
    ref = np.isfinite(log_geo_means)
    log_sf = np.full(counts.shape[0], np.nan)
    for b in blocks:   # per subject: the median log ratio over its positive reference counts (the pilot)
        logc = _log_positive(counts[b])[2]
        log_sf[b] = _row_nanmedian(np.where(ref[None, :], logc - np.where(ref, log_geo_means, 0.0)[None, :], np.nan))
    bad = rows & ~np.isfinite(log_sf)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        who = f"subject '{subjects[i]}'" if subjects is not None else f"subject index {i}"
        where = f" of view '{view}'" if view else ""
        raise DataError(f"cannot compute a size factor for {who}{where}: it has no positive count among the "
                        f"{int(ref.sum())} reference features. Drop the subject or pass size_factors='none'.")
    if method == "trimmed_ratio":
        pilot = np.where(rows, log_sf, 0.0)
        for b in blocks:
            ratio = _trimmed_ratio(counts[b], ~np.isnan(counts[b]), log_geo_means, pilot[b])
            log_sf[b] = np.where(rows[b], ratio, 0.0)
    if log_centre is None:
        log_centre = float(np.mean(log_sf[rows])) if rows.any() else 0.0
    log_sf = np.where(rows, log_sf - log_centre, 0.0)
    return np.exp(log_sf), log_geo_means, log_centre


# Subjects per block of the size factors' (subjects, features) temporaries: a few MB each instead of
# arrays of the whole view (S1's count view: 16 MB each, a dozen of them), which a fresh process pays
# for in page faults (0.75 -> 0.2 s on S1 in a fresh process, 2026-12-05).
ROW_BLOCK = 128


def _log_positive(y: np.ndarray):
    """(observed, positive, log y where positive else NaN) of a block of counts."""
    observed = ~np.isnan(y)
    positive = observed & (y > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return observed, positive, np.where(positive, np.log(np.where(positive, y, 1.0)), np.nan)


def _reference(counts: np.ndarray, rows: np.ndarray, blocks, method: str) -> np.ndarray:
    """Per-feature reference log values over the subjects ``rows`` (see :func:`size_factors`), summed
    block by block."""
    d = counts.shape[1]
    n_obs, n_pos, total = np.zeros(d), np.zeros(d), np.zeros(d)
    every = np.ones(d, dtype=bool)   # median of ratios: positive (or missing) in every subject
    for b in blocks:
        observed, positive, logc = _log_positive(counts[b][rows[b]])
        n_obs += observed.sum(axis=0)
        n_pos += positive.sum(axis=0)
        total += np.where(positive, logc, 0.0).sum(axis=0)
        every &= (positive | ~observed).all(axis=0)
    has = n_pos > 0
    if method in ("poscounts", "trimmed_ratio"):   # zeros count as log 1 over the observed subjects
        return np.where(has, total / np.maximum(n_obs, 1), np.nan)
    return np.where(every & has, total / np.maximum(n_pos, 1), np.nan)


def _row_nanmedian(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=1)`` (NaN for a row with no value) in one vectorised sort: numpy's
    nanmedian goes row by row when a row has a NaN (0.075 against 0.015 s on 1,000 x 2,000 log ratios,
    where every zero count is a NaN). NaN sorts last, so a row's n values are its first n."""
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan)
    ordered = np.sort(x, axis=1)
    n = np.sum(~np.isnan(x), axis=1)
    lo = np.take_along_axis(ordered, np.maximum(n - 1, 0)[:, None] // 2, axis=1)[:, 0]
    hi = np.take_along_axis(ordered, np.minimum(n // 2, max(x.shape[1] - 1, 0))[:, None], axis=1)[:, 0]
    return np.where(n > 0, 0.5 * (lo + hi), np.nan)


def _trimmed_ratio(counts, observed, log_ref, log_pilot):
    """log of sum_d y_nd / sum_d ref_d over each subject's central features (see :func:`size_factors`)."""
    ref = np.where(np.isfinite(log_ref), np.exp(np.where(np.isfinite(log_ref), log_ref, 0.0)), 0.0)
    use = observed & (ref > 0)[None, :]
    y = np.where(use, counts, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # subjects without the view: all-NaN rows
        lr = np.where(use, np.log(y + 0.5) - np.log(np.exp(log_pilot)[:, None] * ref[None, :] + 0.5), np.nan)
        # one call for both bounds; without missing entries numpy's vectorised quantile (nanquantile
        # goes row by row: 0.14 against 0.085 s on 1,000 x 2,000)
        quantile = np.nanquantile if np.isnan(lr).any() else np.quantile
        lo, hi = quantile(lr, [TRIM, 1.0 - TRIM], axis=1, keepdims=True)
    keep = use & (lr >= lo) & (lr <= hi)
    num, den = np.where(keep, y, 0.0).sum(axis=1), np.where(keep, ref[None, :], 0.0).sum(axis=1)
    return np.where((num > 0) & (den > 0), np.log(np.maximum(num, 1e-300)) - np.log(np.maximum(den, 1e-300)), log_pilot)


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
    log_sf_centre: float = 0.0
    centre: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    level: str = "subject"   # 'region': rows are (subject, region) pairs (rgfactor.data.regions)


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
             size_factor_method: str, subjects=None) -> ViewPreprocessing:
    """Fit the preprocessing of one view on its training subjects (drops constant features)."""
    return fit_view_and_offset(name, likelihood, values, features, transform, size_factor_method, subjects)[0]


def fit_view_and_offset(name: str, likelihood: str, values: np.ndarray, features: list[str], transform: str,
                        size_factor_method: str, subjects=None) -> tuple[ViewPreprocessing, np.ndarray | None]:
    """:func:`fit_view` and the training subjects' log size factors it computed on the way (None for a
    view without size factors): what :func:`apply_view` would compute again for the same values."""
    log_offset = None
    if transform not in TRANSFORMS:
        raise DataError(f"view '{name}': unknown transform '{transform}'; choose one of {TRANSFORMS}.")
    kind = data_kind(likelihood)
    if transform != "none" and kind != "real":
        raise DataError(f"view '{name}' ({likelihood}): transform '{transform}' applies to views of real values "
                        "(gaussian) only.")
    sd = _nan_mean_sd(values)[1]
    constant = ~(sd > 0)
    if constant.any():
        dropped = [features[j] for j in np.flatnonzero(constant)]
        warnings.warn(f"view '{name}': dropping {len(dropped)} constant or all-missing feature(s), e.g. "
                      f"{dropped[:5]}", DataWarning, stacklevel=3)
    keep = ~constant
    if not keep.any():
        raise DataError(f"view '{name}' has no non-constant feature.")
    x = values if keep.all() else values[:, keep]
    feats = [f for f, k in zip(features, keep) if k]
    vp = ViewPreprocessing(likelihood=likelihood, features=feats, transform=transform,
                           size_factors=size_factor_method)
    if kind == "real":
        if transform == "yeo-johnson":
            lam = np.array([stats.yeojohnson(col[~np.isnan(col)])[1] for col in x.T])
            vp.yj_lambda = _nan_float_list(lam)
            x = _yeo_johnson(x, lam)
        standardise = None
        if transform in ("standardize", "yeo-johnson"):
            mean, sd = _nan_mean_sd(x)
            vp.mean, vp.sd = _nan_float_list(mean), _nan_float_list(sd)
            standardise = vp
        centre, scale = _nan_mean_sd(x, standardise)   # of the model-scale values
        vp.centre, vp.scale = _nan_float_list(centre), _nan_float_list(scale)
    elif kind == "count":
        if size_factor_method in SIZE_FACTORS[:3]:
            sf, lgm, centre = size_factors(x, method=size_factor_method, subjects=subjects, view=name)
            vp.log_geo_means, vp.log_sf_centre = _nan_float_list(lgm), centre
            log_offset = np.log(sf)
        elif size_factor_method == "none":
            sf = np.ones(x.shape[0])
        else:
            raise DataError(f"view '{name}': unknown size_factors '{size_factor_method}'; "
                            f"use one of {SIZE_FACTORS}.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            norm_mean = np.nanmean(x / sf[:, None], axis=0)
        vp.centre = _nan_float_list(np.log(norm_mean + 0.5))
        vp.scale = [1.0] * len(feats)
    else:  # binary
        freq = np.clip(np.nanmean(x, axis=0), 0.5 / x.shape[0], 1 - 0.5 / x.shape[0])
        vp.centre = _nan_float_list(logit(freq))
        vp.scale = [1.0] * len(feats)
    return vp, log_offset


def _nan_mean_sd(x: np.ndarray, standardise: ViewPreprocessing | None = None, chunk: int = 256):
    """Column means and sds over non-missing entries (``np.nanmean``/``np.nanstd``, same values), of x
    or, given a fitted ``standardise``, of its standardised values, a block of columns at a time: the
    temporaries are (n_subjects, chunk), not copies of the whole view."""
    mean, sd = np.empty(x.shape[1]), np.empty(x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-missing columns: NaN, dropped by the caller
        for a in range(0, x.shape[1], chunk):
            block = x[:, a:a + chunk]
            if standardise is not None:
                block = np.subtract(block, np.asarray(standardise.mean[a:a + chunk], dtype=x.dtype))
                block /= np.asarray(standardise.sd[a:a + chunk], dtype=x.dtype)
            if np.isnan(block).any():
                mean[a:a + chunk], sd[a:a + chunk] = np.nanmean(block, axis=0), np.nanstd(block, axis=0)
            else:   # a complete block: the same statistics without NaN bookkeeping (a third of the time)
                mean[a:a + chunk], sd[a:a + chunk] = block.mean(axis=0), block.std(axis=0)
    return mean, sd


def _standardise(x: np.ndarray, vp: ViewPreprocessing) -> np.ndarray:
    """(x - mean) / sd in x's own precision (float32 data stay float32), one new array."""
    out = np.subtract(x, np.asarray(vp.mean, dtype=x.dtype))
    out /= np.asarray(vp.sd, dtype=x.dtype)
    return out


def _yeo_johnson(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=float)
    for j in range(x.shape[1]):
        col = x[:, j]
        ok = ~np.isnan(col)
        out[:, j] = np.nan
        out[ok, j] = stats.yeojohnson(col[ok], lmbda=lam[j])
    return out


def apply_view(vp: ViewPreprocessing, values: np.ndarray, subjects=None, view: str = "",
               log_offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply a fitted view preprocessing to values already reindexed to ``vp.features``.

    ``log_offset``: the values' log size factors when already known (:func:`fit_view_and_offset` on the
    same values); computed from the values when None.

    Returns
    -------
    y : (n_subjects, n_features) model-scale values, NaN where missing.
    log_offset : (n_subjects,) log size factors (0 for non-count views).
    """
    x = np.asarray(values, dtype=np.float32 if np.asarray(values).dtype == np.float32 else np.float64)
    known, log_offset = log_offset, np.zeros(x.shape[0])
    kind = data_kind(vp.likelihood)
    if kind == "real":
        if vp.transform == "yeo-johnson":
            x = _yeo_johnson(x, np.asarray(vp.yj_lambda))
        if vp.transform in ("standardize", "yeo-johnson"):
            x = _standardise(x, vp)
    elif kind == "count" and vp.size_factors in SIZE_FACTORS[:3] and known is not None:
        log_offset = np.asarray(known, dtype=float)
    elif kind == "count" and vp.size_factors in SIZE_FACTORS[:3]:
        sf, _, _ = size_factors(x, np.asarray(vp.log_geo_means), vp.size_factors, vp.log_sf_centre,
                                subjects=subjects, view=view)
        log_offset = np.log(sf)
    return x, log_offset


def _inverse_yeo_johnson(y: np.ndarray, lam: float) -> np.ndarray:
    """Inverse of the Yeo-Johnson transform (Yeo & Johnson 2000, Biometrika 87:954) for one feature."""
    out = np.full_like(y, np.nan, dtype=float)
    pos, neg = y >= 0, y < 0
    if abs(lam) > 1e-12:
        out[pos] = np.power(np.maximum(lam * y[pos] + 1.0, 1e-300), 1.0 / lam) - 1.0
    else:
        out[pos] = np.expm1(y[pos])
    if abs(lam - 2.0) > 1e-12:
        out[neg] = 1.0 - np.power(np.maximum(-(2.0 - lam) * y[neg] + 1.0, 1e-300), 1.0 / (2.0 - lam))
    else:
        out[neg] = -np.expm1(-y[neg])
    return out


def invert_view(vp: ViewPreprocessing, y: np.ndarray) -> np.ndarray:
    """Model-scale values of a view of real values back on its data scale (undo standardisation and
    Yeo-Johnson); other kinds are returned unchanged. NaN stays NaN."""
    x = np.asarray(y, dtype=float)
    if data_kind(vp.likelihood) != "real":
        return x
    if vp.transform in ("standardize", "yeo-johnson"):
        x = x * np.asarray(vp.sd) + np.asarray(vp.mean)
    if vp.transform == "yeo-johnson":
        x = np.column_stack([_inverse_yeo_johnson(x[:, j], lam) for j, lam in enumerate(vp.yj_lambda)]) \
            if x.shape[1] else x
    return x
