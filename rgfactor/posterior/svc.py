"""Posterior of the SVC model: InferenceData, pointwise log-likelihood, and evidence of spatial variation.

Evidence that a coefficient varies at all (``p_constant``): the constant-coefficient model is the
SVC model with amplitude_j = 0, nested with independent priors, so its Bayes factor is the
Savage-Dickey density ratio BF01 = p(amplitude_j = 0 | y) / p(amplitude_j = 0) (Dickey 1971, Ann Math
Stat 42:204; Verdinelli & Wasserman 1995, JASA 90:614). The posterior density at zero is estimated by
averaging, over posterior draws, the exact conditional density p(amplitude_j = 0 | y, rest) of the
sampled program (Rao-Blackwellisation; Gelfand & Smith 1990; Chen 1994), each normalised by
quadrature on a grid in amplitude_j. ``p_constant`` = BF01 / (1 + BF01) is the posterior probability
of a constant coefficient at prior odds 1. Its calibration (over simulated replicates) is measured in
``benchmarks/svc_vs_mgwr.py``.
"""

from __future__ import annotations

import json
from functools import partial

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from numpyro.infer.util import log_density

from rgfactor.data.spatial import SpatialArrays
from rgfactor.generative.hsgp import HSGPSurfaces
from rgfactor.generative.svc import RESPONSE, SVCModel
from rgfactor.inference.compile_options import FAST_COMPILE, without_validation

INTERVAL = (2.5, 97.5)   # central 95% intervals throughout the SVC summaries


def flatten(draws: dict) -> dict:
    """name -> (chain * draw, ...)."""
    return {k: v.reshape((-1,) + v.shape[2:]) for k, v in draws.items()}


def linear_predictor_draws(model: SVCModel, draws: dict, data: dict, *, chunk: int = 100) -> np.ndarray:
    """(S, n) eta of every unit for each flattened draw of the reported variables."""
    flat = flatten(draws)
    out = []
    sub = flat.get("subject_effect")
    for a in range(0, flat["beta_mean"].shape[0], chunk):
        b = slice(a, a + chunk)
        out.append(np.asarray(_linear_predictor(model, data, flat["beta_mean"][b], flat["gp_weight"][b],
                                                None if sub is None else sub[b])))
    return np.concatenate(out)


@partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
@without_validation
def _linear_predictor(model: SVCModel, data: dict, beta_mean, gp_weight, subject_effect):
    # subject_effect None (no groups) is an empty tree: vmap passes it through
    return jax.vmap(lambda m, w, u: model.linear_predictor(data, m, w, u))(beta_mean, gp_weight, subject_effect)


@partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
@without_validation
def _log_likelihood(model: SVCModel, eta, params: dict, y):
    return model.likelihood.distribution(eta, params).log_prob(y)


def pointwise_log_likelihood(model: SVCModel, draws: dict, data: dict) -> np.ndarray:
    """(chain, draw, n_observed) log p(y_i | eta_i, nuisance) of the observed units."""
    shape = draws["beta_mean"].shape[:2]
    eta = linear_predictor_draws(model, draws, data)
    params = {k: v.reshape(-1, *v.shape[2:])[:, 0][:, None]
              for k, v in model.likelihood.params(RESPONSE, draws).items()}
    mask = np.asarray(data["mask"])
    lp = np.asarray(_log_likelihood(model, eta, params, data["y"]))
    return lp[:, mask].reshape(shape + (-1,))


def spatial_share(draws: dict, design: np.ndarray, eta: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(S, J) Var_i(x_ij f_j(s_i)) / Var_i(eta_i - offset_i): the share of the variance of the linear
    predictor across units that comes from the spatial variation of coefficient j."""
    flat = flatten({"beta": draws["beta"], "beta_mean": draws["beta_mean"]})
    f = flat["beta"] - flat["beta_mean"][:, None, :]
    spatial = (design[None] * f).var(axis=1)
    total = (eta - offset[None]).var(axis=1)
    return spatial / np.maximum(total, 1e-300)[:, None]


@partial(jax.jit, static_argnums=(0, 1), compiler_options=FAST_COMPILE)
@without_validation
def _conditional_amplitude(program, chunk: int, data: dict, sub: dict, grid, j):
    """Per draw in ``sub``: the conditional density of amplitude_j at 0 (the grid's first point) and at the
    grid's end, relative to its maximum, by the trapezoidal rule on ``grid``. One compiled program per model
    (``j`` and the grid are traced), reused by every term and by later fits of the same model."""
    def cond(draw):
        def lp(a):
            params = {**draw, "amplitude": draw["amplitude"].at[j].set(a)}
            return log_density(program, (data,), {}, params)[0]

        logp = jax.vmap(lp)(grid)
        dens = jnp.exp(logp - jnp.max(logp))
        return dens[0] / jnp.trapezoid(dens, grid), dens[-1]

    return jax.lax.map(cond, sub, batch_size=chunk)


def amplitude_savage_dickey(model: SVCModel, data: dict, sampled: dict, *, n_draws: int = 100, n_grid: int = 64,
                            chunk: int = 8) -> pd.DataFrame:
    """Savage-Dickey Bayes factor of amplitude_j = 0 (constant coefficient) per term (module docstring).

    Parameters
    ----------
    sampled : name -> (chain, draw, ...) draws of the program's sampled sites.
    n_draws : posterior draws averaged (evenly thinned).  n_grid : quadrature points in amplitude_j on
        (0, 3 max draw], geometrically refined towards 0.

    Returns
    -------
    DataFrame (term index 0..J-1): bayes_factor_constant (BF01), p_constant, grid_tail (largest ratio,
    over draws, of the conditional density at the grid's end to its maximum; small = grid wide enough).
    """
    program = model.program()
    flat = flatten(sampled)
    total = flat["amplitude"].shape[0]
    idx = np.unique(np.linspace(0, total - 1, min(n_draws, total)).astype(int))
    sub = {k: jnp.asarray(v[idx]) for k, v in flat.items()}
    rates = np.asarray(model.surfaces.amplitude_rate, dtype=float)
    rows = []
    with jax.enable_x64(True):
        for j in range(model.n_terms):
            top = 3.0 * float(np.max(flat["amplitude"][:, j]))
            # the density at 0 is its limit from above (the Exponential's support excludes 0 itself)
            grid = jnp.asarray(top * np.concatenate([[1e-12], np.geomspace(1e-4, 1.0, n_grid - 1)]))
            p0, tail = _conditional_amplitude(program, chunk, data, sub, grid, j)
            bf = float(np.mean(np.asarray(p0))) / rates[j]
            rows.append({"bayes_factor_constant": bf, "p_constant": bf / (1.0 + bf),
                         "grid_tail": float(np.max(np.asarray(tail)))})
    return pd.DataFrame(rows)


def summarise(x: np.ndarray, name: str) -> dict:
    """{name_mean, name_q2.5, name_q97.5} per column of x (S, J)."""
    lo, hi = np.percentile(x, INTERVAL, axis=0)
    return {f"{name}_mean": x.mean(axis=0), f"{name}_q{INTERVAL[0]:g}": lo, f"{name}_q{INTERVAL[1]:g}": hi}


def variation_table(reported: dict, share: np.ndarray, sd_table: pd.DataFrame, terms, basis, rule: str) -> pd.DataFrame:
    """The per-term table of ``SVC.spatial_variation()``: posterior mean and central interval (:func:`summarise`)
    of the amplitude, spatial sd, spatial share and mean coefficient, the median lengthscale, the
    Savage-Dickey Bayes factor and probability of a constant coefficient (``sd_table``,
    :func:`amplitude_savage_dickey`), and the HSGP basis (sizes, boundary factors, ``rule`` that chose them)."""
    flat = flatten({k: reported[k] for k in ("amplitude", "lengthscale", "spatial_sd", "beta_mean")})
    cols = {**summarise(flat["amplitude"], "amplitude"), **summarise(flat["spatial_sd"], "spatial_sd"),
            **summarise(share, "spatial_share"), "lengthscale_median": np.median(flat["lengthscale"], axis=0),
            **summarise(flat["beta_mean"], "beta_mean"),
            "bayes_factor_constant": sd_table["bayes_factor_constant"].to_numpy(),
            "p_constant": sd_table["p_constant"].to_numpy()}
    out = pd.DataFrame(cols, index=pd.Index(terms, name="term"))
    out["n_basis"] = "x".join(str(m) for m in basis.n_basis)
    out["boundary_factor"] = "x".join(f"{c:g}" for c in basis.boundary_factor)
    out["basis_rule"] = rule
    return out


def surface_draws(model: SVCModel, posterior: xr.Dataset, coordinates: np.ndarray) -> np.ndarray:
    """(chain, draw, unit, term) draws of the coefficient surfaces at ``coordinates`` (units, coordinates),
    from the posterior's ``beta_mean`` and ``gp_weight`` and the fit's HSGP basis."""
    with jax.enable_x64(True):
        phi = model.surfaces.basis.phi(coordinates)
        beta = HSGPSurfaces.surfaces(jnp.asarray(posterior["beta_mean"].values),
                                     jnp.asarray(posterior["gp_weight"].values), phi)
    return np.asarray(beta)


def response_mean(model: SVCModel, posterior: xr.Dataset, design: np.ndarray, beta: np.ndarray,
                  offset, subjects=None) -> np.ndarray:
    """(units,) posterior mean of E[y | eta] at new units: eta = offset + design . beta per draw (``beta``
    from :func:`surface_draws`), plus the subject intercept of units whose label in ``subjects`` (units,) was
    seen in training (a new subject gets none), through the likelihood's mean with its nuisance draws."""
    eta = offset + np.einsum("nj,cdnj->cdn", design, beta)
    if subjects is not None and "subject_effect" in posterior:
        index = {label: i for i, label in enumerate(posterior["subject"].values)}
        known = np.array([v in index for v in subjects])
        codes = np.array([index.get(v, 0) for v in subjects])
        eta = eta + np.where(known, posterior["subject_effect"].values[..., codes], 0.0)
    lik = model.likelihood
    names = [n.name.format(view=RESPONSE) for n in lik.nuisance_variables]
    params = {k: posterior[v].values[..., 0][..., None] for k, v in zip(lik.nuisance, names) if v in posterior}
    with jax.enable_x64(True):
        return np.asarray(lik.mean(jnp.asarray(eta), params)).mean(axis=(0, 1))


def build_idata(model: SVCModel, arrays: SpatialArrays, reported: dict, data: dict, *, response: str,
                sample_stats: dict | None, attrs: dict) -> az.InferenceData:
    """InferenceData of an SVC fit; dims of the posterior from the variables' declarations.

    Groups: posterior; log_likelihood ``y`` (chain, draw, unit) over the observed units;
    observed_data ``y`` (unit); constant_data ``design`` (unit, term), ``coordinates``
    (unit, coordinate), ``offset`` (unit); sample_stats (NUTS). Units of a MultiIndex keep each level
    as a coordinate along ``unit``.
    """
    roles = model.variables()
    dims = {name: list(roles[name].dims) for name in reported}
    coords = {"unit": arrays.units, "term": arrays.terms, "basis": np.arange(model.surfaces.basis.size),
              "coordinate": arrays.coordinate_names, f"{RESPONSE}_feature": [response]}
    if model.subjects is not None:
        coords["subject"] = arrays.group_labels
    loglik = pointwise_log_likelihood(model, reported, data)
    observed_units = [u for u, m in zip(arrays.units, arrays.mask) if m]
    levels = {k: ("unit", v) for k, v in arrays.unit_levels.items()}
    groups = {"posterior": az.dict_to_dataset(reported, coords=coords, dims=dims).assign_coords(levels),
              "log_likelihood": az.dict_to_dataset({"y": loglik}, coords={"unit": observed_units},
                                                   dims={"y": ["unit"]}),
              "observed_data": xr.Dataset({"y": ("unit", arrays.y)}, coords={"unit": arrays.units, **levels}),
              "constant_data": xr.Dataset({"design": (("unit", "term"), arrays.design),
                                           "coordinates": (("unit", "coordinate"), arrays.coords),
                                           "offset": ("unit", arrays.offset)},
                                          coords={"unit": arrays.units, "term": arrays.terms,
                                                  "coordinate": arrays.coordinate_names, **levels})}
    if arrays.group is not None:
        groups["constant_data"]["subject_code"] = ("unit", arrays.group)
    if sample_stats is not None:
        groups["sample_stats"] = az.dict_to_dataset(sample_stats)
    idata = az.InferenceData(**groups)
    idata.posterior.attrs.update({k: v if isinstance(v, (str, int, float)) else json.dumps(v)
                                  for k, v in attrs.items()})
    return idata
