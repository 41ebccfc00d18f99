"""Mean-field coordinate-ascent variational inference (CAVI) for any model whose components are conjugate.

A fast alternative to SVI and NUTS: every block (factors, loadings, term coefficients) has a
closed-form Gaussian update, precisions have Gamma updates, and the Bernoulli and negative-binomial
likelihoods become conditionally Gaussian through Polya-Gamma augmentation (Polson, Scott & Windle
2013; Zhou et al. 2012). The updates live with the components (``rgfactor.generative``); this module
runs the sweeps (:mod:`rgfactor.inference.cavi_sweep`), checks convergence and draws from q.
Where a component's conjugate prior differs from its NumPyro prior it says so; the model pages list
the priors per engine. The maths and a math-to-code table are in docs/cavi.md.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import jax
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import ConvergenceWarning, InferenceError, SpecError
from rgfactor.generative.model import Model
from rgfactor.inference.cavi_draws import posterior_draws, posterior_moments
from rgfactor.inference.cavi_init import init_state, make_plan, prepare_data, start_factors, with_factors
from rgfactor.inference.cavi_sweep import QUICK_COMPILE_WORK, make_step, sweep_work
from rgfactor.inference.interrupt import check as check_interrupt
from rgfactor.inference.overlap import compile_aside
from rgfactor.inference.progress import make_bar

__all__ = ["CaviResult", "fit_cavi", "check_cavi"]


@dataclass
class CaviResult:
    """Output of :func:`fit_cavi`.

    Attributes
    ----------
    draws : reported variables (``Z``, ``W_<view>``, ``alpha_<view>``, ``intercept_<view>``, ...), each with
        leading dims (chain=1, draw=num_draws), sampled from the variational posterior.
    moments : variational means (engine parameterisation), ``<name>_var`` marginal variances for the
        Gaussian blocks, and the components' own means (``inclusion_<view>``, ``theta_<view>``, ...).
    elbo : (n_iter,) ELBO after each sweep (nats).
    n_iter : number of sweeps run.
    converged : whether the relative ELBO change fell below ``tol``.
    """

    draws: dict[str, np.ndarray]
    moments: dict[str, np.ndarray]
    elbo: np.ndarray
    n_iter: int
    converged: bool
    state: dict = field(default=None, repr=False)


def local_devices(devices) -> list:
    """The devices to shard over: 'all' (every local device), an int (the first n), or a list."""
    available = jax.local_devices()
    if devices == "all" or devices is True:
        return available
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise SpecError(f"devices={devices}, but this process sees {len(available)} device(s): {available}.")
        return available[:devices]
    if isinstance(devices, (list, tuple)) and devices:
        return list(devices)
    raise SpecError(f"devices must be 'all', a number of devices or a list of jax devices, got {devices!r}.")


def shard_over_subjects(data: dict, state: dict, devices="all"):
    """Place (data, state) on a 1-D device mesh ``'subject'``: the local halves (arrays whose leading
    axis is the subject) are split along it, the global halves replicated.

    Raises SpecError when the number of subjects is not a multiple of the number of devices.
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = np.array(local_devices(devices))
    n = state["local"]["Z_m"].shape[0]
    if n % devices.size:
        raise SpecError(f"sharding needs the number of subjects ({n}) to be a multiple of the number of "
                        f"devices ({devices.size}); drop {n % devices.size} subject(s), use fewer devices, or "
                        "fit by minibatches (batch_size=).")
    mesh = Mesh(devices, ("subject",))
    split, replicated = NamedSharding(mesh, PartitionSpec("subject")), NamedSharding(mesh, PartitionSpec())

    def place(tree):
        return {"local": jax.device_put(tree["local"], split),
                "global": jax.device_put(tree["global"], replicated),
                **{k: jax.device_put(v, replicated) for k, v in tree.items() if k not in ("local", "global")}}

    return place(data), place(state)


def check_cavi(model: Model, arrays: ModelArrays) -> None:
    """Raise SpecError if the closed-form engine cannot fit ``model`` (a component without a conjugate
    update) or the data do not fit it."""
    if "cavi" not in model.engines:
        comps = [type(model.factors).__name__] + [f"{type(c).__name__} ({v.name})" for v in model.views
                                                  for c in v.components() if "cavi" not in c.engines]
        raise SpecError(f"the closed-form engine has no update for {', '.join(c for c in comps if c)}; "
                        "use method='svi' or 'nuts'.")
    if arrays.site is not None and np.any(np.asarray(arrays.site) < 0):
        raise SpecError("the closed-form engine needs a known site for every training subject.")


def first_sweep(step, template, data, start, while_compiling=None):
    """The first sweep, ``step(start(), data)``, with the sweep compiled for the shapes of ``template`` on a
    worker thread (:func:`rgfactor.inference.overlap.compile_aside`) while this thread computes ``start()``
    (the PCA start: the factors' values do not change any shape) and then runs ``while_compiling()``.

    In a fresh process the first call of the sweep traces, lowers and compiles it (S1: 1.1 s of a 3-4 s
    fit), so the PCA and what the caller needs after the fit anyway (importing the posterior layer's
    libraries) run during it instead of before and after it. The result is that of the plain call.
    """
    if while_compiling is None:
        return step(start(), data)
    state = compile_aside(step, (template, data), before=start, during=while_compiling)
    return step(state, data)


def fit_cavi(model: Model, arrays: ModelArrays, *, max_iter: int = 1000, tol: float = 1e-6,
             num_draws: int = 200, random_state: int = 0, progress=False,
             shard_subjects: bool = False, dense: bool = True, devices=None, while_compiling=None) -> CaviResult:
    """Fit ``model`` to ``arrays`` by mean-field CAVI and draw from the variational posterior.

    Parameters
    ----------
    model : the model description (:func:`rgfactor.generative.model.describe`).
    arrays : the data (views with masks, offsets, intercept centres and scales; site; covariates).
    max_iter : maximum number of sweeps.
    tol : stop when |ELBO_t - ELBO_{t-1}| < tol * |ELBO_{t-1}|.
    num_draws : posterior draws returned per variable.
    random_state : seeds the PCA start and the draws; the same seed gives identical results.
    progress : True, False or 'auto' (a bar once the fit has run for a few seconds;
        :mod:`rgfactor.inference.progress`).
    shard_subjects : split the subject axis of the data, Z and the Polya-Gamma parameters over all
        local devices (``jax.sharding.NamedSharding`` on a 1-D mesh named ``'subject'``); the
        per-feature blocks are replicated and XLA inserts the cross-device sums. Same results as
        unsharded up to float round-off.
    dense : use the sufficient-statistic path for fully observed Gaussian views (False: the
        (subject, feature) path everywhere; same ELBO).
    devices : shard over these devices ('all', a number, or a list; implies ``shard_subjects``).
    while_compiling : a function of no arguments run on this thread while the first sweep is compiled on
        another (:func:`first_sweep`): the caller's own set-up for after the fit.

    Returns
    -------
    CaviResult

    Raises
    ------
    SpecError  if a component has no closed-form update (:func:`check_cavi`).
    InferenceError  if the ELBO becomes non-finite.
    """
    check_cavi(model, arrays)
    plan = make_plan(model, arrays, dense=dense)
    trace: list[float] = []
    converged = False
    with jax.enable_x64(True):
        data = prepare_data(model, plan, arrays)
        if shard_subjects or devices is not None:
            data, state = shard_over_subjects(data, init_state(model, plan, arrays, random_state),
                                              "all" if devices is None else devices)
            template, start = state, lambda: state
        else:   # the first sweep is compiled for the state's shapes while the factors' start is computed
            zeros = np.zeros((arrays.n_subjects, model.n_factors))
            template = init_state(model, plan, arrays, random_state, factors=zeros)
            start = lambda: with_factors(template, model, start_factors(model, arrays, random_state), random_state)
        work = sweep_work(plan, arrays.n_subjects, [v.n_features for v in arrays.views], model.n_factors)
        step = make_step(model, plan, quick_compile=work < QUICK_COMPILE_WORK)
        bar = make_bar(max_iter, "CAVI (compiling)", progress, unit="sweep")
        for it in range(max_iter):
            check_interrupt()
            state, elbo = step(state, data) if it else first_sweep(step, template, data, start, while_compiling)
            value = float(elbo)
            if it == 0 and bar is not None:
                bar.set_description("CAVI", refresh=False)
            if not math.isfinite(value):
                raise InferenceError(f"CAVI: the ELBO became non-finite at sweep {it + 1}; check the "
                                     "data for extreme values or use method='svi'.")
            trace.append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(elbo=f"{value:.6g}", refresh=False)
            if it > 0 and abs(value - trace[-2]) < tol * abs(trace[-2]):
                converged = True
                break
        if bar is not None:
            bar.close()
        state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
    if not converged:
        warnings.warn(f"CAVI stopped after max_iter={max_iter} sweeps without reaching tol={tol}; "
                      "increase max_iter.", ConvergenceWarning, stacklevel=2)
    return CaviResult(
        draws=posterior_draws(model, plan, state, num_draws, random_state),
        moments=posterior_moments(model, plan, state),
        elbo=np.asarray(trace),
        n_iter=len(trace),
        converged=converged,
        state=state,
    )
