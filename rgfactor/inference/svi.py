"""Stochastic variational inference with NumPyro (mean-field Gaussian guide, Adam)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial

import jax
import numpy as np
import numpyro
import optax
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoNormal

from rgfactor.errors import ConvergenceWarning, InferenceError
from rgfactor.inference.init import init_strategy
from rgfactor.inference.interrupt import check as check_interrupt
from rgfactor.inference.progress import make_bar


@dataclass
class SviResult:
    """Draws from the fitted guide and the optimisation trace.

    draws : dict name -> array with leading dims (chain=1, draw).
    elbo : (n_steps,) ELBO per step (= minus the loss).
    """

    draws: dict
    elbo: np.ndarray
    n_steps: int
    converged: bool
    warnings: list = field(default_factory=list)


def fit_svi(model, data: dict, *, init_values: dict, num_steps: int = 5000, learning_rate: float = 0.01,
            tol: float = 1e-5, chunk: int = 100, num_draws: int = 500, random_state: int = 0,
            progress=False) -> SviResult:
    """Fit ``model(data)`` by SVI with an AutoNormal guide initialised at ``init_values``.

    Runs ``chunk`` Adam steps per jitted call (lax.scan) and stops when the relative change of the
    mean ELBO between consecutive chunks is below ``tol`` (after at least 5 chunks), or after
    ``num_steps``. The ELBO trace of every step is kept.

    Raises
    ------
    InferenceError  if the ELBO becomes non-finite.
    """
    rng = jax.random.PRNGKey(random_state)
    guide = AutoNormal(model, init_loc_fn=init_strategy(init_values),
                       init_scale=0.05)
    optim = numpyro.optim.optax_to_numpyro(optax.adam(learning_rate))
    svi = SVI(model, guide, optim, Trace_ELBO())
    k_init, k_draw = jax.random.split(rng)
    state = svi.init(k_init, data)

    state, losses, converged, warns = optimise(svi, state, data, num_steps=num_steps, chunk=chunk, tol=tol,
                                               progress=progress, min_chunks=5,
                                               hint="extreme counts, a constant feature")
    params = svi.get_params(state)
    # compiled: drawn eagerly, every transform of every site compiles on its own (tens of seconds for
    # 10^5 subjects x factors); the guide is set up by svi.init, so the draw is a pure function here
    draws = jax.jit(lambda key, p: guide.sample_posterior(key, p, sample_shape=(num_draws,)))(k_draw, params)
    draws = {k: np.asarray(v)[None] for k, v in draws.items()}
    elbo = -np.concatenate(losses)
    return SviResult(draws=draws, elbo=elbo, n_steps=len(elbo), converged=converged, warnings=warns)


def optimise(svi, state, data, *, num_steps: int, chunk: int, tol: float, progress=False, min_chunks: int = 5,
             hint: str = "extreme counts, a constant feature"):
    """Run ``svi`` from ``state`` in jitted chunks of ``chunk`` steps (lax.scan) until the relative
    change of the mean loss between consecutive chunks is below ``tol`` (after at least ``min_chunks``
    chunks) or ``num_steps`` steps.

    Returns
    -------
    (state, losses: list of (chunk,) arrays, converged: bool, warnings: list of str)

    Raises
    ------
    InferenceError  if the ELBO becomes non-finite (``hint`` names likely causes).
    """
    @partial(jax.jit, static_argnums=2)
    def run_chunk(state, data, n):
        return jax.lax.scan(lambda s, _: svi.update(s, data), state, None, length=n)

    losses, prev, converged, warns = [], None, False, []
    n_chunks = max(1, int(np.ceil(num_steps / chunk)))
    bar = make_bar(n_chunks, "SVI (compiling)", progress, unit="x100 steps")
    for i in range(n_chunks):
        check_interrupt()
        state, loss = run_chunk(state, data, chunk)
        if bar is not None:
            bar.update(1)
            if i == 0:
                bar.set_description("SVI", refresh=False)
        loss = np.asarray(loss, dtype=float)
        if not np.all(np.isfinite(loss)):
            raise InferenceError("the ELBO became non-finite during SVI; lower learning_rate or check the data "
                                 f"({hint}).")
        losses.append(loss)
        cur = float(loss.mean())
        if bar is not None:
            bar.set_postfix(elbo=f"{-cur:.4g}", refresh=False)
        if prev is not None and i >= min_chunks - 1 and abs(cur - prev) / max(abs(prev), 1e-12) < tol:
            converged = True
            break
        prev = cur
    if bar is not None:
        bar.close()
    if not converged:
        msg = f"SVI stopped at num_steps={num_steps} before the relative ELBO change fell below tol={tol}."
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        warns.append(msg)
    return state, losses, converged, warns
