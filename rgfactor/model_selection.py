"""Subject-level cross-validation, PSIS-LOO by subject, and model comparison.

    cv = SubjectKFold(5, stratify=labels["subtype"], random_state=0)
    scores = cross_validate(rgf.PPLS(2, response=["subtype"]), data, cv, response="subtype")
    table = compare({"GFA K=5": gfa5, "GFA K=10": gfa10, "PCCA": pcca})

Estimands (see docs/model_selection.md):
- held-out log predictive density of view m for a held-out subject n, predicted from the
  subject's *other* views:  lpd_nm = log p(y_nm | y_n,-m, D_train)
  ~= log (1/S) sum_s p(y_nm | z_s, theta_hat),  z_s ~ Laplace approximation of p(z_n | y_n,-m, theta_hat),
  with theta_hat the posterior-mean globals of the fit on the training subjects (plug-in), on the
  model scale (transformed values for Gaussian views), summed over the view's observed features;
- PSIS-LOO (Vehtari, Gelman & Gabry 2017, Stat Comput 27:1413) with the subject as the unit left out:
  the pointwise log-likelihood is log p(y_n | theta) summed over the subject's views.
"""

from __future__ import annotations

import warnings

import arviz as az
import jax
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from rgfactor.data.multiview import MultiViewData
from rgfactor.dims import FACTOR, SUBJECT, VIEW
from rgfactor.errors import DataError
from rgfactor.inference.newsubjects import laplace_draws
from rgfactor.report.context import ACTIVE_THRESHOLD


LOGLIK_VAR = "subject_log_lik"


class SubjectKFold:
    """K-fold split of subjects: every view of a subject lands on the same side.

    Built on scikit-learn's GroupKFold (StratifiedGroupKFold with ``stratify``) with the subject as
    the group, or a coarser ``groups`` (e.g. the patient when subjects are lesions).

    Parameters
    ----------
    n_splits : number of folds (>= 2).
    stratify : optional Series of class labels indexed by subject ID (balanced folds).
    groups : optional Series of group labels indexed by subject ID; default: each subject its own group.
    random_state : seed of the shuffling.
    """

    def __init__(self, n_splits: int = 5, *, stratify: pd.Series | None = None, groups: pd.Series | None = None,
                 random_state: int = 0):
        self.n_splits = n_splits
        self.stratify = stratify
        self.groups = groups
        self.random_state = random_state

    def get_n_splits(self, *args, **kwargs) -> int:
        return self.n_splits

    def split(self, data: MultiViewData):
        """Yield (train_subjects, test_subjects), arrays of subject IDs, disjoint, covering the cohort."""
        subjects = np.asarray(data.subjects, dtype=str)
        groups = subjects if self.groups is None else self._aligned(self.groups, subjects, "groups")
        x = np.zeros((len(subjects), 1))
        if self.stratify is None:
            cv = GroupKFold(self.n_splits, shuffle=True, random_state=self.random_state)
            splits = cv.split(x, groups=groups)
        else:
            y = self._aligned(self.stratify, subjects, "stratify")
            cv = StratifiedGroupKFold(self.n_splits, shuffle=True, random_state=self.random_state)
            splits = cv.split(x, y, groups=groups)
        for train, test in splits:
            yield subjects[train], subjects[test]

    @staticmethod
    def _aligned(series, subjects, what: str) -> np.ndarray:
        s = pd.Series(series)
        s.index = s.index.astype(str)
        missing = pd.Index(subjects).difference(s.index)
        if len(missing):
            raise DataError(f"SubjectKFold: {what} has no value for subject(s) {list(missing[:5])}.")
        values = s.reindex(subjects)
        if values.isna().any():
            raise DataError(f"SubjectKFold: {what} is NaN for subject '{values[values.isna()].index[0]}'.")
        return values.to_numpy()


def heldout_log_density(model, new_data: MultiViewData, view: str, num_draws: int = 200) -> np.ndarray:
    """log p(y_n^view | y_n^other views) for each subject of ``new_data`` (module docstring), (n_subjects,);
    NaN for a subject without ``view``."""
    post = model.factor_posterior(new_data, hide=view)
    zs = laplace_draws(post.mean, post.cov, num_draws, model.random_state)
    vd = post.data["views"][view]
    description = model.model_

    def one(z):
        return description.log_likelihood(view, post.params, post.data, z).sum(-1)

    lp = jax.vmap(one)(zs)  # (S, n)
    out = np.asarray(jax.scipy.special.logsumexp(lp, axis=0) - np.log(num_draws))
    return np.where(np.asarray(vd["mask"]).any(1), out, np.nan)


def _response_scores(model, test: MultiViewData, response: str) -> dict:
    """AUC and accuracy of predicting ``response`` (bernoulli view: one feature, or one-hot classes)."""
    if response not in test.views:
        raise DataError(f"response '{response}' is not a view of the data {list(test.views)}.")
    truth = test.views[response]
    has = truth.notna().all(axis=1).to_numpy()
    if not has.any():
        return {"auc": np.nan, "accuracy": np.nan}
    pred = model.predict(test, view=response).to_numpy()[has]
    y = truth.to_numpy()[has]
    if y.shape[1] == 1:  # binary outcome
        y, p = y[:, 0].astype(int), pred[:, 0]
        auc = roc_auc_score(y, p) if len(np.unique(y)) == 2 else np.nan
        return {"auc": auc, "accuracy": accuracy_score(y, p > 0.5)}
    cls, prob = y.argmax(1), pred / pred.sum(1, keepdims=True)  # one-hot classes
    try:
        auc = roc_auc_score(cls, prob, multi_class="ovr", labels=np.arange(y.shape[1]))
    except ValueError:  # a class absent from the fold
        auc = np.nan
    return {"auc": auc, "accuracy": accuracy_score(cls, prob.argmax(1))}


def cross_validate(estimator, data: MultiViewData, cv: SubjectKFold, response: str | None = None,
                   num_draws: int = 200) -> pd.DataFrame:
    """Fit a clone of ``estimator`` on each fold's training subjects and score its held-out subjects.

    Returns
    -------
    DataFrame, one row per fold: fold, n_train, n_test, ``lpd_<view>`` (mean over held-out subjects
    having the view of the held-out log predictive density, module docstring), and with ``response``
    (a bernoulli view: one feature, or one-hot classes) ``auc`` and ``accuracy`` of predicting it
    from the other views.
    """
    rows = []
    for fold, (train, test) in enumerate(cv.split(data)):
        if set(train) & set(test):  # SubjectKFold guarantees this; a custom cv must too
            leak = sorted(set(train) & set(test))[0]
            raise DataError(f"fold {fold}: subjects on both sides of the split, e.g. '{leak}'.")
        model = clone(estimator).fit(data.subset(train))
        held = data.subset(test)
        row = {"fold": fold, "n_train": len(train), "n_test": len(test)}
        for view in model.config_.view_names:
            row[f"lpd_{view}"] = float(np.nanmean(heldout_log_density(model, held, view, num_draws)))
        if response is not None:
            row.update(_response_scores(model, held, response))
        rows.append(row)
    return pd.DataFrame(rows)


def subject_log_likelihood(model) -> az.InferenceData:
    """InferenceData whose log_likelihood group has one variable ``LOGLIK_VAR`` (chain, draw, subject):
    the log-likelihood of each subject summed over its views."""
    ll = model.log_likelihood()
    total = sum(ll[v] for v in ll.data_vars)
    return az.InferenceData(posterior=model.idata_.posterior, log_likelihood=total.to_dataset(name=LOGLIK_VAR))


def loo(model, **kwargs):
    """PSIS-LOO with the subject as the unit left out (``az.loo``; kwargs passed on, e.g. pointwise=True).

    With SVI draws (one 'chain' from the variational posterior) the importance ratios are computed
    against q rather than posterior draws; read the Pareto-k diagnostics (k > 0.7: unreliable).
    """
    return az.loo(subject_log_likelihood(model), var_name=LOGLIK_VAR, **kwargs)


# PSIS-LOO is unreliable for a model when any subject's Pareto k exceeds this (Vehtari et al. 2017, sec. 2.1;
# Vehtari et al. 2024, JMLR 25:72: 0.7 for S >= 2000 draws, lower for fewer)
PARETO_K_MAX = 0.7
HIGH_PARETO_K = ("Pareto k > {k} for {models}: PSIS-LOO by subject is unreliable there (a subject carries many "
                 "observations, so leaving it out moves the posterior far). Compare these models by subject-level "
                 "cross-validation instead: rgfactor.model_selection.cross_validate(estimator, data, SubjectKFold(5)), "
                 "which refits without the held-out subjects (docs/model_selection.md).")


def compare(models: dict, **kwargs) -> pd.DataFrame:
    """Rank fitted models {name: model} by PSIS-LOO by subject (``az.compare``; higher elpd_loo is
    better). The models must be fitted to the same subjects (e.g. GFA with different n_factors, PCCA).

    Returns
    -------
    az.compare's DataFrame, plus a column ``max_pareto_k`` (the largest Pareto k over the subjects) and,
    in ``.attrs["advice"]``, what to do when it is above ``PARETO_K_MAX`` for some model: then PSIS-LOO is
    unreliable, subject-level cross-validation (:func:`cross_validate`) is the better route, and a
    warning says so. With many features per subject Pareto k is often high (each subject is many
    observations), so for choosing K prefer :func:`cross_validate` with :func:`active_factors`.
    """
    subjects = {name: tuple(m.idata_.posterior[SUBJECT].values) for name, m in models.items()}
    if len(set(subjects.values())) > 1:
        raise DataError("compare: the models were fitted to different subjects; fit them to the same cohort.")
    logliks = {name: subject_log_likelihood(m) for name, m in models.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # az.loo's own Pareto-k warning: said once below, with the remedy
        loos = {name: az.loo(ll, var_name=LOGLIK_VAR, pointwise=True, scale=kwargs.get("scale"))
                for name, ll in logliks.items()}
        # PSIS-LOO once per model: az.compare ranks the ELPDData it is given (WAIC: from the log-likelihoods)
        table = (az.compare(logliks, var_name=LOGLIK_VAR, **kwargs) if kwargs.get("ic", "loo") != "loo"
                 else az.compare(loos, **kwargs))
    kmax = {name: float(np.max(loo.pareto_k)) for name, loo in loos.items()}
    table["max_pareto_k"] = [kmax[name] for name in table.index]
    high = [name for name, k in kmax.items() if k > PARETO_K_MAX]
    table.attrs["advice"] = (HIGH_PARETO_K.format(k=PARETO_K_MAX, models=high) if high else
                             f"Pareto k <= {PARETO_K_MAX} for every model: PSIS-LOO by subject is reliable here.")
    if high:
        warnings.warn(table.attrs["advice"], UserWarning, stacklevel=2)
    return table


def active_factors(model, threshold: float = ACTIVE_THRESHOLD) -> list[str]:
    """The active factors of a fitted model: those explaining more than ``threshold`` of the variance
    (:mod:`rgfactor.posterior.variance`) in at least one view.

    The rule and the default threshold (1%, MOFA's convention, Argelaguet et al. 2018) are the report's
    (``rgfactor.report.ACTIVE_THRESHOLD``). Route for choosing K: fit a generous K (ARD switches surplus
    factors off), count the active factors, refit with K a little above that count and check by
    :func:`cross_validate` that the held-out log predictive density does not drop (docs/model_selection.md).

    Parameters
    ----------
    model : a fitted GFA, PCCA or PPLS.  threshold : fraction of variance, in [0, 1).

    Returns
    -------
    list of factor labels ('Factor1', ...), in factor order.

    Raises
    ------
    NotFittedError  for an unfitted model; DataError for a threshold outside [0, 1).
    """
    if not 0 <= threshold < 1:
        raise DataError(f"threshold is a fraction of variance in [0, 1), got {threshold}.")
    ve = model.variance_explained()
    keep = (ve > threshold).any(VIEW).values
    return [str(f) for f in ve[FACTOR].values[keep]]
