"""Mean-field coordinate-ascent variational inference (CAVI) for GFA, in JAX.

A fast alternative to SVI and NUTS for the GFA structure with conjugate priors: every block
(factors, loadings, intercepts, site effects, covariate effects) has a closed-form Gaussian update,
precisions have Gamma updates, and the Bernoulli and negative-binomial likelihoods become
conditionally Gaussian through Polya-Gamma augmentation (Polson, Scott & Windle 2013; Zhou et al.
2012). The model, the updates, the ELBO and a math-to-code table are in docs/cavi.md.

Differences from the NumPyro GFA model (documented there): the site-effect scale has a conjugate
Gamma prior on its precision instead of a half-normal on the sd, the ARD and noise precisions have
Gamma priors (ARD Gamma(1, 1) as in the NumPyro model; noise Gamma(1e-3, 1e-3)), and the NB
dispersion is a MAP point estimate.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import jax
import numpy as np

from rgfactor.data.arrays import ModelArrays
from rgfactor.errors import ConvergenceWarning, InferenceError, SpecError
from rgfactor.inference.cavi_draws import posterior_draws, posterior_moments
from rgfactor.inference.cavi_init import dense_views, init_state, prepare_data
from rgfactor.inference.cavi_updates import CaviConfig, make_step

SPARSITY = ("spike_and_slab", "ard")
LIKELIHOODS = ("gaussian", "bernoulli", "negative_binomial", "poisson")

__all__ = ["CaviResult", "fit_cavi"]


@dataclass
class CaviResult:
    """Output of :func:`fit_cavi`.

    Attributes
    ----------
    draws : contract names (``Z``, ``W_<view>``, ``alpha_<view>``, ``intercept_<view>``,
        ``sigma_<view>``, ``dispersion_<view>``, ``site_effect_<view>``, ``beta_<view>``), each with
        leading dims (chain=1, draw=num_draws), sampled from the variational posterior.
    moments : posterior means under the same names, ``<name>_var`` marginal variances for the
        Gaussian blocks, plus ``inclusion_<view>`` (feature, factor) and ``theta_<view>`` (factor,)
        for spike-and-slab fits.
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


SUBJECT_LEADING = frozenset({"y", "mask", "offset", "lgamma_y1", "site_onehot", "X", "XX", "H",
                             "Z_m", "Z_S", "c"})


def shard_over_subjects(data: dict, state: dict):
    """Place (data, state) on a 1-D device mesh ``'subject'``: arrays whose leading axis is the
    subject (keys in SUBJECT_LEADING) are split along it, everything else is replicated.

    Raises SpecError when the number of subjects is not a multiple of the number of devices.
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = np.array(jax.devices())
    n = state["Z_m"].shape[0]
    if n % devices.size:
        raise SpecError(f"shard_subjects=True needs the number of subjects ({n}) to be a multiple of "
                        f"the number of devices ({devices.size}); drop subjects or set it to False.")
    mesh = Mesh(devices, ("subject",))
    split, replicated = NamedSharding(mesh, PartitionSpec("subject")), NamedSharding(mesh, PartitionSpec())

    def place(tree):
        return jax.tree_util.tree_map_with_path(
            lambda path, x: jax.device_put(x, split if getattr(path[-1], "key", None) in SUBJECT_LEADING
                                           else replicated), tree)

    return place(data), place(state)


def _check(arrays: ModelArrays, n_factors: int, sparsity: str, site_effects: bool) -> None:
    if sparsity == "horseshoe":
        raise SpecError("sparsity='horseshoe' has no conjugate CAVI update; use method='svi' or "
                        "'nuts', or sparsity='spike_and_slab' / 'ard' with method='cavi'.")
    if sparsity not in SPARSITY:
        raise SpecError(f"sparsity={sparsity!r} is not supported by CAVI; choose one of {SPARSITY}.")
    if int(n_factors) != n_factors or n_factors < 1:
        raise SpecError(f"n_factors must be a positive integer, got {n_factors!r}.")
    if site_effects and (arrays.site is None or arrays.n_sites == 0):
        raise SpecError("site_effects=True but the data have no site; pass site= to MultiViewData "
                        "or set site_effects=False.")
    for v in arrays.views:
        if v.likelihood not in LIKELIHOODS:
            raise SpecError(f"view {v.name!r} has likelihood {v.likelihood!r}; CAVI supports {LIKELIHOODS}.")


def fit_cavi(arrays: ModelArrays, n_factors: int, *, sparsity: str = "spike_and_slab",
             site_effects: bool = False, max_iter: int = 1000, tol: float = 1e-6,
             num_draws: int = 200, random_state: int = 0, progress: bool = False,
             shard_subjects: bool = False) -> CaviResult:
    """Fit GFA by mean-field CAVI and draw from the variational posterior.

    Parameters
    ----------
    arrays : the data (views with masks, offsets, intercept centres and scales; site; covariates).
        Covariate effects are fitted whenever ``arrays.covariates`` is not None.
    n_factors : K, the number of factors (surplus factors are switched off by ARD / the slab).
    sparsity : ``'spike_and_slab'`` (MOFA+-style, W = s * w) or ``'ard'`` (ARD only).
    site_effects : fit per-site random intercepts ``site_effect_<view>``.
    max_iter : maximum number of sweeps.
    tol : stop when |ELBO_t - ELBO_{t-1}| < tol * |ELBO_{t-1}|.
    num_draws : posterior draws returned per variable.
    random_state : seeds the PCA start and the draws; the same seed gives identical results.
    progress : show a tqdm bar.
    shard_subjects : split the subject axis of the data, Z and the Polya-Gamma parameters over all
        local devices (``jax.sharding.NamedSharding`` on a 1-D mesh named ``'subject'``); the
        per-feature blocks are replicated and XLA inserts the cross-device sums. Same results as
        unsharded up to float round-off.

    Returns
    -------
    CaviResult

    Raises
    ------
    SpecError  for an unsupported sparsity (``'horseshoe'``: use method='svi' or 'nuts'), a bad
        ``n_factors``, or site effects without a site.
    InferenceError  if the ELBO becomes non-finite.
    """
    _check(arrays, n_factors, sparsity, site_effects)
    cfg = CaviConfig(
        likelihoods=tuple(v.likelihood for v in arrays.views),
        spike_and_slab=sparsity == "spike_and_slab",
        site_effects=bool(site_effects),
        covariates=arrays.covariates is not None and np.asarray(arrays.covariates).shape[1] > 0,
        dense=dense_views(arrays),
    )
    trace: list[float] = []
    converged = False
    with jax.enable_x64(True):
        data = prepare_data(arrays, cfg)
        state = init_state(arrays, cfg, int(n_factors), random_state)
        if shard_subjects:
            data, state = shard_over_subjects(data, state)
        step = make_step(cfg)
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=max_iter, desc="CAVI")
        for it in range(max_iter):
            state, elbo = step(state, data)
            value = float(elbo)
            if not math.isfinite(value):
                raise InferenceError(f"CAVI: the ELBO became non-finite at sweep {it + 1}; check the "
                                     "data for extreme values or use method='svi'.")
            trace.append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(elbo=f"{value:.6g}")
            if it > 0 and abs(value - trace[-2]) < tol * abs(trace[-2]):
                converged = True
                break
        if bar is not None:
            bar.close()
        state = jax.device_get(state)
    if not converged:
        warnings.warn(f"CAVI stopped after max_iter={max_iter} sweeps without reaching tol={tol}; "
                      "increase max_iter.", ConvergenceWarning, stacklevel=2)
    return CaviResult(
        draws=posterior_draws(arrays, cfg, state, num_draws, random_state),
        moments=posterior_moments(arrays, cfg, state),
        elbo=np.asarray(trace),
        n_iter=len(trace),
        converged=converged,
        state=state,
    )
