"""A ridge-penalised Cox proportional-hazards model: the survival read-out of factors and features.

Cox (1972, JRSS B 34:187) partial likelihood with Breslow's handling of tied times (Breslow 1974,
Biometrics 30:89) and an L2 penalty (Verweij & van Houwelingen 1994, Stat Med 13:2427):

    loss(b) = -sum_{i: event} [x_i b - log sum_{j: t_j >= t_i} exp(x_j b)] + lambda / 2 ||b||^2,

minimised by L-BFGS with the analytic gradient. Features are standardised on the training subjects.
The penalty is chosen by inner K-fold cross-validation of Harrell's C (:func:`metrics.harrell_c`).
Neither lifelines nor scikit-survival is a dependency (both pin older pandas/numpy than rgfactor).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import StratifiedKFold

from rgfactor.benchmark.metrics import harrell_c
from rgfactor.errors import DataError


def _loss_grad(b, x, t_sorted, start, event, lam):
    eta = x @ b
    m = eta.max()
    w = np.exp(eta - m)
    s0 = np.cumsum(w[::-1])[::-1]                    # sum over {j >= k} in time order
    s1 = np.cumsum((w[:, None] * x)[::-1], axis=0)[::-1]
    r0, r1 = s0[start], s1[start]                    # risk set of each subject: t_j >= t_i
    ll = np.sum(event * (eta - m - np.log(r0)))
    g = np.sum(event[:, None] * (x - r1 / r0[:, None]), axis=0)
    return -ll + 0.5 * lam * b @ b, -g + lam * b


class CoxRidge:
    """Ridge Cox model (module docstring).

    Parameters
    ----------
    penalty : lambda, or None to choose it from ``grid`` by ``cv``-fold CV of Harrell's C.
    grid : candidate penalties.  cv : inner folds.  random_state : seed of the inner folds.
    """

    def __init__(self, penalty: float | None = None, grid=(0.1, 1.0, 10.0, 100.0, 1000.0), cv: int = 3,
                 random_state: int = 0):
        self.penalty, self.grid, self.cv, self.random_state = penalty, tuple(grid), cv, random_state

    def _solve(self, x, time, event, lam):
        order = np.argsort(time, kind="stable")
        xs, ts, es = x[order], time[order], event[order].astype(float)
        start = np.searchsorted(ts, ts, side="left")
        res = minimize(_loss_grad, np.zeros(x.shape[1]), args=(xs, ts, start, es, lam), jac=True, method="L-BFGS-B")
        return res.x

    def fit(self, x: np.ndarray, time: np.ndarray, event: np.ndarray) -> CoxRidge:
        """Fit on (n, p) features, (n,) times > 0 and (n,) 0/1 events.

        Raises
        ------
        DataError  for NaN in the inputs or no observed event.
        """
        x, time, event = np.asarray(x, float), np.asarray(time, float), np.asarray(event, float)
        if np.isnan(x).any() or np.isnan(time).any() or np.isnan(event).any():
            raise DataError("CoxRidge: NaN in the features, times or events; impute or drop those subjects first.")
        if event.sum() == 0:
            raise DataError("CoxRidge: no observed event among the training subjects.")
        self.mean_, sd = x.mean(0), x.std(0)
        self.sd_ = np.where(sd > 0, sd, 1.0)
        xs = (x - self.mean_) / self.sd_
        lam = self.penalty
        if lam is None:
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            scores = []
            for cand in self.grid:
                cs = []
                for tr, te in folds.split(xs, event):
                    b = self._solve(xs[tr], time[tr], event[tr], cand)
                    cs.append(harrell_c(time[te], event[te], xs[te] @ b))
                scores.append(np.nanmean(cs))
            lam = self.grid[int(np.nanargmax(scores))]
        self.penalty_ = lam
        self.coef_ = self._solve(xs, time, event, lam)
        return self

    def risk(self, x: np.ndarray) -> np.ndarray:
        """Linear predictor x b (higher = earlier event), (n,)."""
        return ((np.asarray(x, float) - self.mean_) / self.sd_) @ self.coef_
