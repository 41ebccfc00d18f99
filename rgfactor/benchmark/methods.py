"""The method adapter interface and the scikit-learn baselines (early fusion, late fusion, CCA, PLS).

An adapter fits on the training subjects of one split and answers for any subjects:

    class MyMethod(Method):
        name = "my_method"
        def fit(self, train, target, seed): ...          # train: MultiViewData; target: tasks.Target
        def factors(self, data): ...                     # (n_subjects, k) array, or None
        def predict(self, data): ...                     # class scores (n, n_classes) / risk (n,), or None

A method with factors but no ``predict`` is read out by the harness with the same downstream model
for every method (:func:`rgfactor.benchmark.evaluate.readout`): logistic regression on the factors
for classes, a ridge Cox model for survival. ``heldout(test)`` may add metrics (log predictive
density, interval coverage). Raise :class:`NotApplicable` in ``fit`` for a task the method cannot do
(recorded as a skipped row). Parameters of the config's ``params`` table arrive in ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.cross_decomposition import CCA, PLSRegression
from sklearn.decomposition import PCA
from sklearn.ensemble import StackingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

from rgfactor.benchmark.features import ViewFeatures
from rgfactor.benchmark.survival import CoxRidge
from rgfactor.errors import SpecError


class NotApplicable(Exception):
    """The method cannot answer this task (e.g. CCA on a one-view cohort); the row is 'skipped'."""


class Method:
    """Base class of method adapters (module docstring). ``params``: the config's params table."""

    name = "method"

    def __init__(self, **params):
        self.params = params

    def fit(self, train, target, seed: int) -> None:
        raise NotImplementedError

    def factors(self, data) -> np.ndarray | None:
        return None

    def predict(self, data) -> np.ndarray | None:
        return None

    def heldout(self, test) -> dict:
        return {}


METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make an adapter available as ``kind = "<cls.name>"`` in configs."""
    METHODS[cls.name] = cls
    return cls


def method_class(kind: str) -> type[Method]:
    """The adapter class of a config's ``kind``: a registered name, ``package.module:Class`` or
    ``/path/file.py:Class``.

    Raises
    ------
    SpecError  for an unknown name, module, file or class.
    """
    if kind in METHODS:
        return METHODS[kind]
    if ":" not in kind:
        raise SpecError(f"unknown method kind '{kind}'; built-in: {sorted(METHODS)}, or 'package.module:Class' "
                        "or 'file.py:Class'.")
    where, cls_name = kind.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"rgfactor_bench_{abs(hash(where))}", where)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        cls = getattr(module, cls_name)
    except (ImportError, OSError, AttributeError) as e:
        raise SpecError(f"cannot load method adapter '{kind}': {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise SpecError(f"'{kind}' is not a subclass of rgfactor.benchmark.Method.")
    return cls


def _need_views(train, n: int, name: str) -> None:
    if len(train.view_names) < n:
        raise NotApplicable(f"{name} needs at least {n} views; the task has {list(train.view_names)}.")


def _onehot(target) -> np.ndarray:
    return (target.y.to_numpy()[:, None] == np.asarray(target.classes)[None, :]).astype(float)


class _Features(Method):
    """Shared by the array-based adapters: per-view features fitted on the training subjects."""

    def _prepare(self, train):
        self.features_ = ViewFeatures().fit(train)
        self.train_subjects_ = list(train.subjects)
        return self.features_.concat(train)


@register
class EarlyPCA(_Features):
    """Early fusion: PCA of the concatenated standardised views (``n_components``, default 10)."""

    name = "early_pca"

    def fit(self, train, target, seed):
        x = self._prepare(train)
        k = min(int(self.params.get("n_components", 10)), *x.shape)
        self.pca_ = PCA(k, random_state=seed).fit(x)

    def factors(self, data):
        return self.pca_.transform(self.features_.concat(data))


@register
class EarlyElasticNet(_Features):
    """Early fusion: elastic-net logistic regression on the concatenated views (penalty by inner
    3-fold CV of the log loss over ``Cs`` values, default 10 from 1e-4 to 1e4; l1_ratio ``l1_ratio``,
    default 0.5); survival: ridge Cox (penalty by inner CV). No factors."""

    name = "early_enet"

    def fit(self, train, target, seed):
        if target.kind is None:
            raise NotApplicable("early_enet is supervised; the task has no target.")
        x = self._prepare(train)
        if target.kind == "survival":
            self.model_ = CoxRidge(random_state=seed).fit(x, target.time.to_numpy(), target.event.to_numpy())
            return
        self.model_ = LogisticRegressionCV(Cs=int(self.params.get("Cs", 10)), l1_ratios=(float(self.params.get(
            "l1_ratio", 0.5)),), solver="saga", max_iter=int(self.params.get("max_iter", 2000)), scoring="neg_log_loss",
            cv=StratifiedKFold(3, shuffle=True, random_state=seed), random_state=seed, use_legacy_attributes=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(x, target.y.to_numpy())
        self.kind_ = target.kind

    def predict(self, data):
        x = self.features_.concat(data)
        return self.model_.risk(x) if isinstance(self.model_, CoxRidge) else self.model_.predict_proba(x)


@register
class LateFusion(_Features):
    """Late fusion: one model per view, stacked. Classes: per-view L2 logistic regression (inner CV
    of the penalty) stacked by a logistic regression on their out-of-fold probabilities
    (scikit-learn's StackingClassifier, 3 folds); survival: per-view ridge Cox risks, out-of-fold,
    combined by a ridge Cox. Factors: per-view PCA scores side by side (``n_components`` per view,
    default 5)."""

    name = "late_fusion"

    def fit(self, train, target, seed):
        x = self._prepare(train)
        blocks = self.features_.blocks()
        k = int(self.params.get("n_components", 5))
        self.pcas_ = [(cols, PCA(min(k, len(cols), x.shape[0]), random_state=seed).fit(x[:, cols]))
                      for _, cols in blocks]
        self.model_ = None
        if target.kind == "class":
            per_view = [(v, make_pipeline(ColumnTransformer([(v, "passthrough", cols)]),
                                          LogisticRegressionCV(Cs=5, l1_ratios=(0.0,), cv=3, max_iter=2000,
                                                               scoring="neg_log_loss", use_legacy_attributes=False)))
                        for v, cols in blocks]
            self.model_ = StackingClassifier(per_view, final_estimator=LogisticRegression(),
                                             cv=StratifiedKFold(3, shuffle=True, random_state=seed))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.model_.fit(x, target.y.to_numpy())
        elif target.kind == "survival":
            time, event = target.time.to_numpy(), target.event.to_numpy()
            oof = np.zeros((len(time), len(blocks)))
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=seed).split(x, event):
                for j, (_, cols) in enumerate(blocks):
                    oof[te, j] = CoxRidge(random_state=seed).fit(x[tr][:, cols], time[tr], event[tr]).risk(x[te][:, cols])
            self.per_view_ = [CoxRidge(random_state=seed).fit(x[:, cols], time, event) for _, cols in blocks]
            self.meta_ = CoxRidge(penalty=1.0).fit(oof, time, event)
            self.model_ = "cox"

    def factors(self, data):
        x = self.features_.concat(data)
        return np.concatenate([p.transform(x[:, cols]) for cols, p in self.pcas_], axis=1)

    def predict(self, data):
        if self.model_ is None:
            return None
        x = self.features_.concat(data)
        if self.model_ == "cox":
            risks = np.column_stack([m.risk(x[:, cols]) for m, (_, cols) in zip(self.per_view_, self.features_.blocks())])
            return self.meta_.risk(risks)
        return self.model_.predict_proba(x)


@register
class SklearnCCA(_Features):
    """scikit-learn CCA (``n_components``, default 3) between two views (``views``, default the first
    two); factors: both views' canonical variates side by side."""

    name = "cca"

    def fit(self, train, target, seed):
        _need_views(train, 2, "CCA")
        self._prepare(train)
        self.views_ = list(self.params.get("views", train.view_names[:2]))
        mats = self.features_.transform(train, impute=True)
        a, b = mats[self.views_[0]], mats[self.views_[1]]
        k = min(int(self.params.get("n_components", 3)), a.shape[1], b.shape[1], a.shape[0] - 1)
        self.cca_ = CCA(k, max_iter=int(self.params.get("max_iter", 1000)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.cca_.fit(a, b)

    def factors(self, data):
        mats = self.features_.transform(data, impute=True)
        xs, ys = self.cca_.transform(mats[self.views_[0]], mats[self.views_[1]])
        return np.concatenate([xs, ys], axis=1)


@register
class SklearnPLS(_Features):
    """PLS-DA: scikit-learn PLSRegression of the one-hot class on the concatenated views
    (``n_components``, default 3); scores = predicted one-hot values; factors = the X scores."""

    name = "pls"

    def fit(self, train, target, seed):
        if target.kind != "class":
            raise NotApplicable("PLS-DA needs a class target.")
        x = self._prepare(train)
        k = min(int(self.params.get("n_components", 3)), *x.shape)
        self.pls_ = PLSRegression(k).fit(x, _onehot(target))

    def factors(self, data):
        return self.pls_.transform(self.features_.concat(data))

    def predict(self, data):
        return self.pls_.predict(self.features_.concat(data))
