"""Metrics of the benchmark: factor recovery, held-out classification and survival scores, interval coverage.

Each function takes plain arrays (one row per subject) and returns floats; NaN where the metric is
undefined for the data given (one class only, no comparable pair), never an exception for that.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import accuracy_score, roc_auc_score


def factor_recovery(z_true: np.ndarray, z_hat: np.ndarray) -> tuple[float, float]:
    """Mean and min over the true factors of |corr| with the matched fitted factor.

    Each true factor is matched to one fitted factor by the Hungarian algorithm on |corr| (Kuhn
    1955), so a fitted factor cannot explain two true ones; a true factor left unmatched (fewer
    fitted than true factors) or matched to a constant column counts 0. Invariant to the sign,
    order and scale of the fitted factors, as factor models identify them only up to these.

    Parameters
    ----------
    z_true : (n_subjects, K) true factors.  z_hat : (n_subjects, K') fitted factors, same subjects.

    Returns
    -------
    (mean, min) in [0, 1].
    """
    z_true, z_hat = np.asarray(z_true, float), np.asarray(z_hat, float)
    k = z_true.shape[1]
    corr = np.zeros((k, max(z_hat.shape[1], k)))
    ok = z_hat.std(axis=0) > 1e-12
    if ok.any():
        c = np.corrcoef(z_true.T, z_hat[:, ok].T)[:k, k:]
        corr[:, np.flatnonzero(ok)] = np.abs(np.nan_to_num(c))
    rows, cols = linear_sum_assignment(-corr)
    matched = corr[rows, cols]
    return float(matched.mean()), float(matched.min())


def classification_scores(y_true: np.ndarray, proba: np.ndarray, classes: list) -> dict:
    """Held-out AUC (one-vs-rest macro for more than two classes) and accuracy (argmax).

    Parameters
    ----------
    y_true : (n,) class labels.  proba : (n, n_classes) scores, columns in the order of ``classes``
        (probabilities or any monotone score; rows need not sum to 1).  classes : class labels.

    Returns
    -------
    dict auc, accuracy; auc NaN when a class is absent from ``y_true``.
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, float)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    out = {"accuracy": float(accuracy_score(y_true, pred)), "auc": np.nan}
    present = set(np.unique(y_true))
    if len(classes) == 2:
        if len(present) == 2:
            out["auc"] = float(roc_auc_score(y_true == classes[1], proba[:, 1] - proba[:, 0]))
    elif present == set(classes):
        p = np.clip(proba, 0.0, None)
        p = p / np.where(p.sum(1, keepdims=True) > 0, p.sum(1, keepdims=True), 1.0)
        out["auc"] = float(roc_auc_score(y_true, p, multi_class="ovr", labels=list(classes)))
    return out


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of a risk score for right-censored times (Harrell et al. 1982,
    JAMA 247:2543; Harrell, Lee & Mark 1996, Stat Med 15:361).

    A pair (i, j) is comparable when the shorter time is an observed event: t_i < t_j with event_i,
    or t_i == t_j with event_i and not event_j (the censored subject is known to outlive the other;
    the convention of scikit-survival's ``concordance_index_censored``). It is concordant when the
    subject that failed first has the higher risk; ties in risk count one half.
    C = (concordant + ties / 2) / comparable.

    Parameters
    ----------
    time : (n,) positive follow-up times.  event : (n,) 1 = event observed, 0 = censored.
    risk : (n,) predicted risk (higher = earlier event), e.g. a Cox linear predictor.

    Returns
    -------
    C in [0, 1] (0.5 = random ordering); NaN without a comparable pair.
    """
    t = np.asarray(time, float)
    e = np.asarray(event).astype(bool)
    r = np.asarray(risk, float)
    ti, tj = t[:, None], t[None, :]
    comparable = e[:, None] & ((ti < tj) | ((ti == tj) & ~e[None, :]))
    n = comparable.sum()
    if n == 0:
        return np.nan
    ri, rj = r[:, None], r[None, :]
    score = np.where(ri > rj, 1.0, np.where(ri == rj, 0.5, 0.0))
    return float((score * comparable).sum() / n)


def interval_coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Fraction of observed (non-NaN) entries of ``y`` inside [lower, upper] (same shape)."""
    y = np.asarray(y, float)
    ok = ~np.isnan(y)
    if not ok.any():
        return np.nan
    inside = (y >= lower) & (y <= upper)
    return float(inside[ok].mean())


__all__ = ["factor_recovery", "classification_scores", "harrell_c", "interval_coverage"]
