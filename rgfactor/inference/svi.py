"""Stochastic variational inference with NumPyro (Gaussian guides, Adam), as compiled programs.

NumPyro sets a guide up by running the model once, eagerly: every array operation of that run is
compiled on its own, 400-500 small XLA programs for a factor model, 20-25 s of a first SVI fit on a
2-core machine (2026-12-04) before the first optimiser step. Here the set-up, each chunk of optimiser
steps and the draws from the fitted guide are three ``jax.jit`` programs keyed by a :class:`Recipe`
(the model's program, the guide and the optimiser: hashable, equal for equal models), so the set-up is
one compiled program, and the next fit of an equal model on data of the same shapes reuses all three.
The guide is set up again inside each program (its prototype only gives the structure there); nothing
traced in one program is used in another.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax
from numpyro.distributions.transforms import biject_to
from numpyro.infer import SVI, Trace_ELBO, init_to_median, init_to_sample
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal, AutoNormal

from rgfactor.errors import ConvergenceWarning, InferenceError
from rgfactor.inference.compile_options import NOT_OPTIMISED, QUICK_COMPILE, without_validation
from rgfactor.inference.init import values_then_median
from rgfactor.inference.interrupt import check as check_interrupt
from rgfactor.inference.overlap import compile_aside
from rgfactor.inference.progress import make_bar

GUIDES = {"normal": AutoNormal, "mvn": AutoMultivariateNormal, "lowrank": AutoLowRankMultivariateNormal}


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


@dataclass(frozen=True)
class Recipe:
    """What the compiled SVI programs depend on besides the data's shapes (a static ``jax.jit``
    argument: hashable, equal for equal settings).

    program : the NumPyro model ``program(data)`` (a :class:`rgfactor.generative.program.Program`, or
        any hashable callable).
    guide : 'normal' (mean-field, numpyro's AutoNormal), 'mvn' (full-rank AutoMultivariateNormal) or
        'lowrank' (AutoLowRankMultivariateNormal of ``rank``), on the unconstrained space.
    init_scale : the guide's initial standard deviation.
    learning_rate : Adam's step; with ``decay_steps`` > 0 decayed by a cosine to 5% of it over that
        many steps (optax.cosine_decay_schedule).
    """

    program: Callable
    guide: str = "normal"
    rank: int = 0
    init_scale: float = 0.05
    learning_rate: float = 0.01
    decay_steps: int = 0

    def build(self, init_loc_fn):
        """(guide, svi) with ``init_loc_fn`` as the guide's initialisation strategy."""
        kwargs = {"rank": self.rank} if self.guide == "lowrank" else {}
        guide = GUIDES[self.guide](self.program, init_loc_fn=init_loc_fn, init_scale=self.init_scale, **kwargs)
        step = (optax.cosine_decay_schedule(self.learning_rate, self.decay_steps, alpha=0.05) if self.decay_steps
                else self.learning_rate)
        return guide, SVI(self.program, guide, numpyro.optim.optax_to_numpyro(optax.adam(step)), Trace_ELBO())


def _start(init_values):
    return init_to_median(num_samples=15) if init_values is None else values_then_median(init_values)


# The compiled programs are traced with NumPyro's argument validation off (compile_options.without_validation)
@partial(jax.jit, static_argnums=0, compiler_options=QUICK_COMPILE)
@without_validation
def _init(recipe: Recipe, key, data, init_values):
    """The initial SVI state: the guide at ``init_values`` (name -> constrained value; None: the prior
    median of 15 draws for every site), numpyro's ``SVI.init`` compiled.

    For the mean-field guide the initial locations are computed here by one forward run of the model and
    passed to ``SVI.init`` as its ``init_params``: the guide's own search for valid initial values (the
    model's log density and its gradient, in a loop) is then unused and left out of the compiled program
    (5.1 s to compile instead of 7.9 s for a two-view model with site effects, 2026-12-04)."""
    if recipe.guide != "normal":
        return recipe.build(_start(init_values))[1].init(key, data)
    guide, svi = recipe.build(init_to_sample)
    run = numpyro.handlers.substitute(numpyro.handlers.seed(recipe.program, jax.random.fold_in(key, 1)),
                                      substitute_fn=_start(init_values))
    params = {}
    for name, site in numpyro.handlers.trace(run).get_trace(data).items():
        if site["type"] == "sample" and not site["is_observed"]:
            loc = biject_to(site["fn"].support).inv(site["value"])
            params[f"{name}_{guide.prefix}_loc"] = loc
            params[f"{name}_{guide.prefix}_scale"] = jnp.full(jnp.shape(loc), recipe.init_scale, jnp.result_type(loc))
    state = svi.init(key, data, init_params=params)
    made = set(svi.optim.get_params(state.optim_state))
    if made != set(params):   # the guide's parameter names are numpyro's AutoNormal convention
        raise InferenceError(f"internal: the guide's parameters {sorted(made ^ set(params))} were not initialised.")
    return state


def _set_up(recipe: Recipe, data):
    """(guide, svi) set up inside the program being traced (the initial values it computes are not
    used: the state carries the parameters)."""
    guide, svi = recipe.build(init_to_sample)
    svi.init(jax.random.PRNGKey(0), data)
    return guide, svi


@without_validation
def _chunk(recipe: Recipe, state, data, n: int):
    _, svi = _set_up(recipe, data)
    return jax.lax.scan(lambda s, _: svi.update(s, data), state, None, length=n)


# A long run's time is its steps': default optimisation (the first_fit benchmark's GFA, 200 subjects x 340
# features, up to 5,000 steps, work 6.9e8: its second fit takes 0.85 s compiled so, 5.3 s at -O0). A short run
# of a small model is its compilation: LLVM -O0 below QUICK_COMPILE_WORK, the number of steps times the number
# of data values (the four-likelihood test model, 25 subjects x 22 features, 200 steps, work 2e5: first fit
# 13.3 -> 9.6 s, the run itself 0.1 s either way). At this threshold -O0 can cost at most ~0.06 s of steps on
# the GFA above (the SVC of that benchmark, work 2.2e7, runs as fast at -O0 as optimised). Not QUICK_COMPILE:
# with XLA:CPU's elemental emitters at -O0 this program gave different results in different processes
# (jaxlib 0.9.2; tests/test_interrupt_determinism.py), with either option alone the same every time.
QUICK_COMPILE_WORK = 1e7
_run_chunk = jax.jit(_chunk, static_argnums=(0, 3))
_run_chunk_quick = jax.jit(_chunk, static_argnums=(0, 3), compiler_options=NOT_OPTIMISED)


def chunk_program(num_steps: int, data):
    """The compiled optimisation chunk for a run of at most ``num_steps`` steps on ``data`` (see
    QUICK_COMPILE_WORK)."""
    work = float(num_steps) * sum(np.size(x) for x in jax.tree_util.tree_leaves(data))
    return _run_chunk_quick if work < QUICK_COMPILE_WORK else _run_chunk


@partial(jax.jit, static_argnums=(0, 4), compiler_options=QUICK_COMPILE)
@without_validation
def _draw(recipe: Recipe, key, state, data, num_draws: int) -> dict:
    guide, svi = _set_up(recipe, data)
    return guide.sample_posterior(key, svi.get_params(state), sample_shape=(num_draws,))


def start(recipe: Recipe, key, data, init_values: dict | None = None):
    """The initial SVI state of ``recipe`` (one compiled program; see the module docstring)."""
    values = None if init_values is None else {k: np.asarray(v) for k, v in init_values.items()}
    return _init(recipe, key, data, values)


def draw(recipe: Recipe, key, state, data, num_draws: int) -> dict:
    """``num_draws`` draws of every latent (and deterministic) site from the fitted guide:
    name -> (num_draws, ...) NumPy arrays."""
    return {k: np.asarray(v) for k, v in _draw(recipe, key, state, data, int(num_draws)).items()}


def sample_sites(program, data) -> dict:
    """name -> (shape, observed) of every sample site of ``program(data)``, from an abstract trace
    (``jax.eval_shape``: nothing is computed or compiled)."""
    out = {}

    def run(key, data):
        tr = numpyro.handlers.trace(numpyro.handlers.seed(program, key)).get_trace(data)
        out.update({k: (tuple(s["value"].shape), bool(s["is_observed"])) for k, s in tr.items()
                    if s["type"] == "sample"})
        return 0

    jax.eval_shape(run, jax.random.PRNGKey(0), data)
    return out


def fit_svi(model, data: dict, *, init_values: dict, num_steps: int = 5000, learning_rate: float = 0.01,
            tol: float = 1e-5, chunk: int = 100, num_draws: int = 500, random_state: int = 0,
            progress=False, while_compiling=None) -> SviResult:
    """Fit ``model(data)`` by SVI with a mean-field Gaussian guide (AutoNormal, initial sd 0.05)
    initialised at ``init_values`` (the prior median elsewhere), Adam with step ``learning_rate``.

    Runs ``chunk`` Adam steps per compiled call (lax.scan) and stops when the relative change of the
    mean ELBO between consecutive chunks is below ``tol`` (after at least 5 chunks), or after
    ``num_steps``. The ELBO trace of every step is kept. ``while_compiling``: a function of no arguments run
    while the optimisation chunk is compiled (:func:`optimise`).

    Raises
    ------
    InferenceError  if the ELBO becomes non-finite (also for initial values the model cannot evaluate).
    """
    recipe = Recipe(model, "normal", init_scale=0.05, learning_rate=float(learning_rate))
    k_init, k_draw = jax.random.split(jax.random.PRNGKey(random_state))
    state = start(recipe, k_init, data, init_values)
    state, losses, converged, warns = optimise(recipe, state, data, num_steps=num_steps, chunk=chunk, tol=tol,
                                               progress=progress, min_chunks=5,
                                               hint="extreme counts, a constant feature",
                                               while_compiling=while_compiling)
    draws = {k: v[None] for k, v in draw(recipe, k_draw, state, data, num_draws).items()}
    elbo = -np.concatenate(losses)
    return SviResult(draws=draws, elbo=elbo, n_steps=len(elbo), converged=converged, warnings=warns)


def optimise(recipe: Recipe, state, data, *, num_steps: int, chunk: int, tol: float, progress=False,
             min_chunks: int = 5, hint: str = "extreme counts, a constant feature", while_compiling=None):
    """Run the SVI of ``recipe`` from ``state`` in compiled chunks of ``chunk`` steps (lax.scan) until the relative
    change of the mean loss between consecutive chunks is below ``tol`` (after at least ``min_chunks``
    chunks) or ``num_steps`` steps. With ``while_compiling`` (a function of no arguments), the chunk is
    compiled on a worker thread while it runs here (:func:`rgfactor.inference.overlap.compile_aside`).

    Returns
    -------
    (state, losses: list of (chunk,) arrays, converged: bool, warnings: list of str)

    Raises
    ------
    InferenceError  if the ELBO becomes non-finite (``hint`` names likely causes).
    """
    losses, prev, converged, warns = [], None, False, []
    n_chunks = max(1, int(np.ceil(num_steps / chunk)))
    bar = make_bar(n_chunks, "SVI (compiling)", progress, unit=f"x{chunk} steps")
    run_chunk = chunk_program(num_steps, data)
    for i in range(n_chunks):
        check_interrupt()
        if i == 0 and while_compiling is not None:
            compile_aside(run_chunk, (recipe, state, data, chunk), during=while_compiling)
        state, loss = run_chunk(recipe, state, data, chunk)
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
