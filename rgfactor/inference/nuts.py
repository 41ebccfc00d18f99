"""Full posterior by the No-U-Turn Sampler (NumPyro's NUTS kernel), compiled once per model and settings.

NumPyro's ``MCMC`` driver compiles its sampling loop again on every ``run`` (numpyro 0.22 wraps the
loop's body in a new ``jax.jit`` object per call, which JAX cannot recognise as the same program), so
every NUTS fit paid 1.3-2.9 s of compilation on these CPUs even for a model it had just fitted. Here,
as in :mod:`rgfactor.inference.svi`, the chain's start, a chunk of NUTS transitions and the constraining
of the draws are three ``jax.jit`` programs with a hashable :class:`Sampler` as a static argument and
the data as a traced one: a second fit of an equal model to data of the same shapes compiles nothing.
The kernel, its warmup adaptation (step size and mass matrix, Stan's windowed schedule) and its
transitions are NumPyro's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import numpy as np
from numpyro.infer import NUTS, init_to_median
from numpyro.infer.util import initialize_model

from rgfactor.errors import InferenceError
from rgfactor.generative.components import NUTS_TARGET_ACCEPT
from rgfactor.inference.compile_options import FAST_COMPILE, QUICK_COMPILE, without_validation
from rgfactor.inference.init import values_then_median
from rgfactor.inference.interrupt import check as check_interrupt
from rgfactor.inference.overlap import compile_aside
from rgfactor.inference.progress import make_bar

CHUNK = 100   # at most this many transitions per compiled call (the progress bar and Ctrl-C act between calls)
FIELDS = ("diverging", "num_steps", "step_size", "energy", "accept_prob")


@dataclass
class NutsResult:
    """draws: dict name -> (chain, draw, ...); sample_stats: dict name -> (chain, draw)."""

    draws: dict
    sample_stats: dict


@dataclass(frozen=True)
class Sampler:
    """What the compiled NUTS programs depend on besides the data's shapes (hashable; equal for equal
    settings). ``dense_mass``: False, True, or a tuple of tuples of site names (dense blocks)."""

    program: Callable
    num_warmup: int
    target_accept: float = NUTS_TARGET_ACCEPT
    max_tree_depth: int = 8
    dense_mass: bool | tuple = False

    def kernel(self, key, data, init_params):
        """NumPyro's NUTS kernel, initialised (inside the program being traced) and its first state."""
        mass = [tuple(b) for b in self.dense_mass] if isinstance(self.dense_mass, tuple) else self.dense_mass
        kernel = NUTS(self.program, init_strategy=init_to_median(num_samples=15), target_accept_prob=self.target_accept,
                      max_tree_depth=self.max_tree_depth, dense_mass=mass)
        return kernel, kernel.init(key, self.num_warmup, init_params, model_args=(data,), model_kwargs={})


@partial(jax.jit, static_argnums=0, compiler_options=QUICK_COMPILE)
@without_validation
def _start(sampler: Sampler, key, data, init_params):
    return sampler.kernel(key, data, init_params)[1]


@partial(jax.jit, static_argnums=(0, 3), compiler_options=FAST_COMPILE)
@without_validation
def _advance(sampler: Sampler, state, data, n: int):
    # the kernel's transition function is set up by its init (NumPyro keeps the adaptation schedule in
    # closures); that init's own outputs are unused here and compiled away
    kernel, _ = sampler.kernel(jax.random.PRNGKey(0), data, state.z)

    def step(s, _):
        s = kernel.sample(s, (data,), {})
        return s, (s.z, s.diverging, s.num_steps, s.adapt_state.step_size, s.energy, s.accept_prob)

    return jax.lax.scan(step, state, None, length=n)


@partial(jax.jit, static_argnums=0, compiler_options=QUICK_COMPILE)
@without_validation
def _initial_params(program, key, data, init_values):
    """A chain's start as NumPyro's MCMC would draw it with ``key``: ``init_values`` where given, the prior
    median elsewhere. One compiled program per model (run eagerly, NumPyro's initialisation compiled ~200
    small programs of one operation each in every fresh process)."""
    return initialize_model(jax.random.split(key)[1], program, model_args=(data,),
                            init_strategy=values_then_median(init_values)).param_info


@partial(jax.jit, static_argnums=0, compiler_options=QUICK_COMPILE)
@without_validation
def _constrain(sampler: Sampler, z, data):
    kernel, _ = sampler.kernel(jax.random.PRNGKey(0), data, jax.tree_util.tree_map(lambda v: v[0], z))
    return jax.vmap(kernel.postprocess_fn((data,), {}))(z)


def _chunk(num_warmup: int, num_samples: int) -> int:
    """The largest divisor of both phases' lengths up to CHUNK (one program for warmup and sampling)."""
    g = math.gcd(num_warmup, num_samples) or max(num_warmup, num_samples, 1)
    return max(d for d in range(1, min(g, CHUNK) + 1) if g % d == 0)


def run_sampler(program, data: dict, *, num_warmup: int, num_samples: int, num_chains: int,
                target_accept: float = NUTS_TARGET_ACCEPT, max_tree_depth: int = 8, dense_mass=False,
                random_state: int = 0, progress=False, init_values: dict | None = None,
                while_compiling=None) -> NutsResult:
    """NUTS (Hoffman & Gelman 2014, with Stan's warmup) on ``program(data)``, chains one after another.

    ``init_values`` (constrained values of sampled sites; the prior median of 15 draws elsewhere, drawn
    per chain) are every chain's start; None: each chain starts at the prior median of its own draws.
    Returns the draws of every sampled and deterministic site (chain, draw, ...) and the sample
    statistics (chain, draw): ``diverging``, ``num_steps`` (leapfrog steps), ``step_size``, ``energy``,
    ``accept_prob`` (NumPyro's acceptance probability of the transition). Warmup transitions are not kept.
    ``while_compiling`` (a function of no arguments) runs while the transitions' program is compiled on a worker
    thread (:func:`rgfactor.inference.overlap.compile_aside`).
    """
    mass = tuple(tuple(b) for b in dense_mass) if isinstance(dense_mass, (list, tuple)) else bool(dense_mass)
    sampler = Sampler(program, int(num_warmup), float(target_accept), int(max_tree_depth), mass)
    keys = jax.random.split(jax.random.PRNGKey(random_state), num_chains)
    n = _chunk(num_warmup, num_samples)
    bar = make_bar(num_chains * (num_warmup + num_samples), "NUTS (compiling)", progress, unit="step")
    draws, stats = {}, {}
    for key in keys:
        start = None
        if init_values is not None:   # the values where given, the prior median elsewhere, drawn with the key
            # NumPyro's kernel would use for its own start (so the chains start as under numpyro's MCMC)
            start = _initial_params(program, key, data, {k: np.asarray(v) for k, v in init_values.items()})
            finite = np.isfinite(float(start.potential_energy)) and all(
                np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(start.z_grad))
            if not finite:   # what NumPyro's eager initialisation refused with a RuntimeError
                raise InferenceError("NUTS: the log density or its gradient is not finite at the starting values; "
                                     "check the data for extreme values.")
        state = _start(sampler, key, data, start)
        kept = []
        for i in range((num_warmup + num_samples) // n):
            check_interrupt()   # Ctrl-C stops the fit between chunks (rgfactor.inference.interrupt)
            if while_compiling is not None:   # the first chunk of the first chain
                compile_aside(_advance, (sampler, state, data, n), during=while_compiling)
                while_compiling = None
            state, out = _advance(sampler, state, data, n)
            if i * n >= num_warmup:
                kept.append(jax.device_get(out))
            if bar is not None:
                bar.set_description("NUTS warmup" if (i + 1) * n <= num_warmup else "NUTS sampling", refresh=False)
                bar.update(n)
        z = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *[o[0] for o in kept])
        for name, value in _constrain(sampler, z, data).items():
            draws.setdefault(name, []).append(np.asarray(value))
        for j, name in enumerate(FIELDS, start=1):
            stats.setdefault(name, []).append(np.concatenate([o[j] for o in kept]))
    if bar is not None:
        bar.close()
    return NutsResult({k: np.stack(v) for k, v in draws.items()}, {k: np.stack(v) for k, v in stats.items()})


def fit_nuts(model, data: dict, *, init_values: dict, num_warmup: int = 500, num_samples: int = 500,
             num_chains: int = 2, target_accept: float = NUTS_TARGET_ACCEPT, max_tree_depth: int = 8, dense_mass=False,
             random_state: int = 0, progress=False, while_compiling=None) -> NutsResult:
    """Run NUTS (Hoffman & Gelman 2014) from ``init_values`` on every chain (``while_compiling``: see
    :func:`run_sampler`).

    ``model`` is the model's NUTS program (:meth:`Model.program` with engine 'nuts': the components
    choose their parameterisation there) and ``init_values`` are on its sampled sites
    (:meth:`Model.init_values`). Chains run one after another, each reusing the compiled sampler
    (:func:`run_sampler`). ``dense_mass``: numpyro's (False: diagonal; a list of tuples of site
    names: dense blocks, :attr:`rgfactor.generative.model.Model.nuts_dense_mass`). Draws (sampled and
    deterministic sites) are returned unaligned; the posterior layer keeps the reported ones and aligns
    them. ``sample_stats``: ``diverging``, ``n_steps``, ``step_size``, ``energy`` (chain, draw).
    """
    res = run_sampler(model, data, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                      target_accept=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                      random_state=random_state, progress=progress, while_compiling=while_compiling,
                      init_values={k: np.asarray(v) for k, v in init_values.items()})
    s = res.sample_stats
    return NutsResult(res.draws, {"diverging": s["diverging"], "n_steps": s["num_steps"],
                                  "step_size": s["step_size"], "energy": s["energy"]})
