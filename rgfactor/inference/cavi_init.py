"""Device arrays, the static plan and the starting state of the closed-form (CAVI) engine.

The data and the state are pytrees with two halves: ``local`` (arrays whose leading axis is the
subject: the views' values, masks, offsets, term designs, the factors and the Polya-Gamma parameters)
and ``global`` (per-feature and model-level arrays). Subject sharding splits the local half across
devices and replicates the global one; stochastic VI takes minibatches of the local half.

:func:`init_state` starts the factors at a PCA of the concatenated, column-standardised views and
every other block at its component's ``cavi_init``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.generative.model import Model
from rgfactor.inference.pca_start import pca_factors

MIN_SCALE = 1e-6


@dataclass(frozen=True)
class Plan:
    """Static layout of a fit (hashable: one compiled sweep per model and plan).

    dense : per view, whether the sufficient-statistic path applies (a likelihood with a per-feature
        constant precision, every entry observed, no offset).
    term_slices : per view, the (start, stop) rows of each term in the stacked coefficients theta.
    intercepts : per view, (term index, row of theta) of its intercept, when the factors may be
        translated into the intercepts (:mod:`rgfactor.inference.cavi_translate`); else None.
    scales : whether each sweep starts with the factors' scaling step (:mod:`rgfactor.inference.cavi_scale`).
    """

    dense: tuple[bool, ...]
    term_slices: tuple[tuple[tuple[int, int], ...], ...]
    intercepts: tuple[tuple[int, int], ...] | None = None
    scales: bool = False

    def is_dense(self, m: int) -> bool:
        return self.dense[m]

    @property
    def n_terms_columns(self) -> tuple[int, ...]:
        return tuple(sl[-1][1] for sl in self.term_slices)


def make_plan(model: Model, arrays: ModelArrays, dense: bool = True, scales: bool = True) -> Plan:
    """The plan of ``model`` on ``arrays``; ``dense=False`` forces the generic path everywhere, ``scales=False``
    leaves out the scaling step where the components would allow it."""
    flags, slices = [], []
    for vm, v in zip(model.views, arrays.views):
        lik = vm.likelihood.conjugate_observation()
        flags.append(bool(dense and lik.dense and np.all(v.mask) and not np.any(v.log_offset)))
        start, sl = 0, []
        for term in vm.terms:
            q = term.n_columns(arrays)
            sl.append((start, start + q))
            start += q
        slices.append(tuple(sl))
    return Plan(tuple(flags), tuple(slices), _intercepts(model, arrays, slices), scales and _scales(model))


def _scales(model: Model) -> bool:
    """Whether the factor prior and every view's loadings declare the scaling step's terms."""
    return (getattr(model.factors, "cavi_scaling", None) is not None
            and all(getattr(vm.loadings.conjugate(), "cavi_scale_stats", None) is not None for vm in model.views))


def _intercepts(model: Model, arrays: ModelArrays, slices) -> tuple[tuple[int, int], ...] | None:
    """Per view, (term index, theta row) of a per-feature constant term (``baseline`` with a design column
    of ones), if the factor prior allows the translation step and every view has one; else None."""
    if getattr(model.factors, "cavi_translation", None) is None:
        return None
    out = []
    for vm, sl in zip(model.views, slices):
        found = [(i, a) for i, (t, (a, b)) in enumerate(zip(vm.terms, sl))
                 if t.baseline and b - a == 1 and np.all(t.design(arrays) == 1.0)]
        if not found:
            return None
        out.append(found[0])
    return tuple(out)


def _scale(view) -> np.ndarray:
    return np.maximum(np.asarray(view.scale, dtype=np.float64), MIN_SCALE)


def prepare_data(model: Model, plan: Plan, arrays: ModelArrays, compact: bool = False) -> dict:
    """Float64 jax arrays: per view, local (y, mask (not for a dense view: its sweep reads sufficient statistics),
    offset, design H and its row outer products) and global (centre, scale; dense views: H^T Y, H^T H, sum y^2;
    a likelihood's whole-view summaries, :meth:`cavi_feature_data`, e.g. a count view's sum of log(y!)); and
    the factor prior's own arrays (``factors``: :meth:`cavi_data`, e.g. the exposure design of a
    mediation model; replicated, not split, under subject sharding).

    ``compact=True`` (stochastic VI, which casts each minibatch to float64 itself): the (subject,
    feature) arrays keep the data's precision (float32 data: half the memory) and the mask is boolean
    (an eighth), so a cohort of N x D values is held once on the device, not as two float64 copies.

    Must be called inside ``jax.enable_x64(True)``.
    """
    local, glob = [], []
    for m, (vm, v) in enumerate(zip(model.views, arrays.views)):
        if compact:
            y, mask = _zero_filled(v, v.y.dtype), np.asarray(v.mask, dtype=bool)
        else:   # a complete float64 view is not copied here; a dense view's sweep never reads its mask
            y = _zero_filled(v, np.float64)
            mask = None if plan.is_dense(m) else np.asarray(v.mask, dtype=np.float64)
        h = np.concatenate([t.design(arrays) for t in vm.terms], axis=1)
        loc = {"y": y, "offset": np.asarray(v.log_offset, np.float64),
               "H": h, "HH": (h[:, :, None] * h[:, None, :]).reshape(h.shape[0], -1)}
        if mask is not None:
            loc["mask"] = mask
        lik = vm.likelihood.conjugate_observation()
        loc.update(lik.cavi_data(arrays))
        g = {"centre": np.asarray(v.centre, dtype=np.float64), "scale": _scale(v)}
        if not compact:   # whole-view summaries a minibatch would misread
            g.update(lik.cavi_feature_data(y, v.mask if mask is None else mask))
        if plan.is_dense(m):   # sufficient statistics for fully observed Gaussian views
            g.update(HtY=h.T @ y, HtH=h.T @ h, y2=np.sum(y * y, axis=0))
        local.append({k: jnp.asarray(x) for k, x in loc.items()})
        glob.append({k: jnp.asarray(x) for k, x in g.items()})
    factors = {k: jnp.asarray(x) for k, x in model.factors.cavi_data(arrays).items()}
    return {"local": tuple(local), "global": tuple(glob), "factors": factors}


def _zero_filled(view, dtype) -> np.ndarray:
    """The view's values with missing entries 0, in ``dtype``: the view's own array when it is complete and of
    that type (in a 2-core VM, touching fresh memory cost ~6 ms per MB: S1's three views are 26 MB)."""
    if np.all(view.mask):
        return np.asarray(view.y, dtype=dtype)
    return np.where(view.mask, view.y, 0.0).astype(dtype)


def _asjax(tree):
    if isinstance(tree, dict):
        return {k: _asjax(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return tuple(_asjax(v) for v in tree)
    return jnp.asarray(np.asarray(tree, dtype=np.float64))   # converted on the host (no XLA program)


def start_factors(model: Model, arrays: ModelArrays, random_state: int) -> np.ndarray:
    """(n_subjects, K) start of the factors: :func:`pca_factors` with the first view's term designs
    (site one-hot, covariates) regressed out."""
    design = np.concatenate([t.design(arrays) for t in model.views[0].terms], axis=1)
    return pca_factors(arrays, model.n_factors, random_state, design)


def with_factors(state: dict, model: Model, factors: np.ndarray, random_state: int) -> dict:
    """``state`` with the factors started at ``factors`` (n_subjects, K): the factor prior's q from them and
    q(Z)'s mean; nothing else in the first state depends on the factors. Inside ``jax.enable_x64(True)``."""
    z, q_factors = model.factors.cavi_init(factors, random_state)
    return {**state, "local": {**state["local"], "Z_m": _asjax(z)},
            "global": {**state["global"], "factors": _asjax(q_factors)}}


def init_state(model: Model, plan: Plan, arrays: ModelArrays, random_state: int,
               factors: np.ndarray | None = None) -> dict:
    """First variational state, the factors started at ``factors`` (n_subjects, K; default
    :func:`start_factors`). Inside ``jax.enable_x64(True)``."""
    n, k = arrays.n_subjects, model.n_factors
    z = start_factors(model, arrays, random_state) if factors is None else factors
    z, q_factors = model.factors.cavi_init(z, random_state)
    local_views, global_views = [], []
    for vm, v in zip(model.views, arrays.views):
        d = v.n_features
        scale = _scale(v)
        vd = {"centre": np.asarray(v.centre, dtype=np.float64), "scale": scale}
        q_load = vm.loadings.conjugate().cavi_init(d, k, scale)
        q_hyper = tuple(t.cavi_init(vd) for t in vm.terms)
        # every term's coefficients start at their prior mean (the intercept at the empirical centre)
        theta = np.concatenate([np.broadcast_to(np.asarray(t.cavi_prior(qh, vd)[0]), (t.n_columns(arrays), d))
                                for t, qh in zip(vm.terms, q_hyper)], axis=0)
        n_cols = theta.shape[0]
        p0 = np.concatenate([np.broadcast_to(np.asarray(t.cavi_prior(qh, vd)[1]), (t.n_columns(arrays), d))
                             for t, qh in zip(vm.terms, q_hyper)], axis=0).T          # (D, Q) prior precisions
        q_terms = {"m": theta, "cov": np.zeros((d, n_cols, n_cols)), "logdet": np.zeros(d), "hyper": q_hyper,
                   "P": p0[:, :, None] * np.eye(n_cols)[None], "h": p0 * theta.T}   # the prior's natural parameters
        q_lik, q_local = vm.likelihood.conjugate_observation().cavi_init(
            _zero_filled(v, np.result_type(v.y)), v.mask, vd["centre"], scale, np.asarray(v.log_offset, dtype=np.float64))
        global_views.append({"loadings": q_load, "terms": q_terms, "lik": q_lik})
        local_views.append(q_local)
    z_s = np.broadcast_to(1e-2 * np.eye(k), (n, k, k)).copy()
    return _asjax({"local": {"Z_m": z, "Z_S": z_s, "views": tuple(local_views)},
                   "global": {"factors": q_factors, "views": tuple(global_views)}}) | {
        "sweep": jnp.asarray(np.zeros((), np.int32))}   # an array: no conversion program to compile
