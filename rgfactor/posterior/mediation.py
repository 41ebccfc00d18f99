"""Causal mediation estimands from posterior draws: the mediation formula, per-mediator effects,
the sensitivity analysis of Imai, Keele & Tingley (2010), and their summary.

Definitions (Robins & Greenland 1992; Pearl 2001; Imai, Keele & Tingley 2010, Psychol Methods 15:309,
eq. 1-4). With Y(t, m) the potential outcome under exposure t and mediators m, and M(t) the potential
mediators, for exposure values x0 (control) and x1 (treated):

    ACME(t) = E[Y(t, M(x1)) - Y(t, M(x0))],   ADE(t) = E[Y(x1, M(t)) - Y(x0, M(t))]
    NIE = ACME(treated),  NDE = ADE(control),  TE = E[Y(x1, M(x1)) - Y(x0, M(x0))] = NIE + NDE,
    PM = NIE / TE,
    NIE_mediator[k] = E[Y(x1, M_k(x1), M_-k(x0)) - Y(x1, M(x0))]   (mediator k moved alone).

Under sequential ignorability these are functionals of the mediator model M | x, c and the outcome
model Y | x, m, c (the mediation formula, Pearl 2001; Imai et al. 2010, Theorem 1), computed here per
posterior draw and averaged over the cohort's confounders c_n. Both models are linear-Gaussian in
the mediators here (m_n(t) = base_n + a t + sd * eps, eps ~ N(0, I); eta = out_base_n + c' t + (b +
d t) . m), so eta(t, M(t')) ~ N(mu, v) per subject, and

    gaussian   E[Y] = mu                                  (exact; reported on the outcome's scale)
    bernoulli  E[Y] = E[logistic(eta)]                    (Gauss-Hermite quadrature, 40 nodes)
    survival   S(tau) = E[exp(-tau^rho e^eta)], RMST(tau) = E[int_0^tau S(u | eta) du]   (quadrature)

The same standard-normal eps enters M(x0) and M(x1) (the "shared noise" of R ``mediation``), which in
closed form means the expectation over one eps: nothing is simulated, so the estimands carry no
Monte Carlo error beyond the posterior draws. For a non-linear outcome the per-mediator effects need
not add up to the NIE (interaction through the link).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, ndtr

from rgfactor.dims import SUBJECT, feature_dim
from rgfactor.errors import SpecError
from rgfactor.posterior.summary import HDI_PROB, hdi_bounds

ESTIMANDS = ("NIE", "NDE", "TE", "PM", "ACME_control", "ACME_treated", "ADE_control", "ADE_treated")
RMST_ESTIMANDS = ("NIE_rmst", "NDE_rmst", "TE_rmst")
GH_NODES = 40
# logistic(x) ~ Phi(x / 1.702): max absolute error 0.0095 (Haley 1952); the sensitivity analysis of
# a logit outcome is done on this probit scale, as Imai et al. (2010) do for binary outcomes
PROBIT_SCALE = 1.702


def _gauss_hermite(mu, v, f, n_nodes: int = GH_NODES):
    """E[f(eta)] for eta ~ N(mu, v) by Gauss-Hermite quadrature (f elementwise; v broadcasts)."""
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    sd = np.sqrt(2.0 * v)
    acc = 0.0
    for xi, wi in zip(x, w):
        acc = acc + wi * f(mu + sd * xi)
    return acc / np.sqrt(np.pi)


def _expectations(paths: dict, mu, v, horizon) -> dict:
    """Subject-level E[outcome] (and RMST for survival) for eta ~ N(mu, v)."""
    kind = paths["outcome"]
    if kind == "gaussian":
        return {"": mu}
    if kind == "bernoulli":
        return {"": _gauss_hermite(mu, v, expit)}
    if kind == "survival":
        from rgfactor.generative.likelihoods.survival import Survival

        rho = paths["nuisance"]["weibull_shape"].reshape((-1,) + (1,) * (mu.ndim - 1))
        return {"": _gauss_hermite(mu, v, lambda e: np.asarray(Survival.survival(horizon, e, rho), dtype=float)),
                "rmst": _gauss_hermite(mu, v, lambda e: np.asarray(Survival.restricted_mean(horizon, e, rho),
                                                                   dtype=float))}
    raise SpecError(f"no mediation estimands for outcome '{kind}'.")


def _slopes(paths: dict, t: float):
    """b + d t, the outcome's slope in the mediators at exposure t, (S, K)."""
    return paths["b"] if paths.get("d") is None else paths["b"] + paths["d"] * t


def _arm(paths: dict, t: float, t_med: float, horizon) -> dict:
    """Cohort mean of E[Y(t, M(t_med))] per draw, (S,) per outcome scale."""
    bt = _slopes(paths, t)
    mean_m = paths["med_base"] + paths["a"][:, None, :] * t_med
    mu = paths["out_base"] + paths["direct"][:, None] * t + np.einsum("snk,sk->sn", mean_m, bt)
    v = np.sum((bt * paths["med_sd"]) ** 2, axis=-1)[:, None]
    return {k: e.mean(axis=1) for k, e in _expectations(paths, mu, v, horizon).items()}


def _per_mediator(paths: dict, x0: float, x1: float, horizon) -> dict:
    """E[Y(x1, M_k(x1), M_-k(x0))] per mediator k, (S, K): eta shifts by (x1 - x0) a_k (b_k + d_k x1)."""
    bt = _slopes(paths, x1)
    mean_m = paths["med_base"] + paths["a"][:, None, :] * x0
    mu = paths["out_base"] + paths["direct"][:, None] * x1 + np.einsum("snk,sk->sn", mean_m, bt)
    shift = (x1 - x0) * paths["a"] * bt                                   # (S, K)
    v = np.sum((bt * paths["med_sd"]) ** 2, axis=-1)[:, None, None]
    return {k: e.mean(axis=1) for k, e in _expectations(paths, mu[:, :, None] + shift[:, None, :], v,
                                                          horizon).items()}


def effects_from_paths(paths: dict, x0: float, x1: float, *, horizon: float | None = None,
                       scale: float = 1.0) -> dict:
    """Every estimand (module docstring) per draw, from :meth:`MediationModel.paths`-style arrays.

    Parameters
    ----------
    paths : med_base (S, n, K), a (S, K), med_sd (S, K), out_base (S, n), direct (S,), b (S, K),
        d (S, K) or None, nuisance {name: (S,)}, outcome (likelihood name).
    x0, x1 : control and treated exposure on the model's scale.
    horizon : survival outcome: the horizon tau in the model's time unit.
    scale : gaussian outcome: its sd (effects on the original scale); survival: the time unit
        (RMST in original units); 1 otherwise.

    Returns
    -------
    dict name -> (S,) for ESTIMANDS (and RMST_ESTIMANDS for survival); 'NIE_mediator' (S, K)
    (and 'NIE_mediator_rmst').
    """
    if paths["outcome"] == "survival" and horizon is None:
        raise SpecError("a survival outcome needs a horizon for its estimands.")
    y = {(t, m): _arm(paths, (x0, x1)[t], (x0, x1)[m], horizon) for t in (0, 1) for m in (0, 1)}
    single = _per_mediator(paths, x0, x1, horizon)
    out = {}
    for key in y[0, 0]:
        unit = scale if (paths["outcome"] == "gaussian" or key == "rmst") else 1.0
        suffix = "_rmst" if key else ""

        def diff(p, q, key=key, unit=unit):
            return unit * (y[p][key] - y[q][key])

        part = {"ACME_control": diff((0, 1), (0, 0)), "ACME_treated": diff((1, 1), (1, 0)),
                "ADE_control": diff((1, 0), (0, 0)), "ADE_treated": diff((1, 1), (0, 1)), "TE": diff((1, 1), (0, 0))}
        part["NIE"], part["NDE"] = part["ACME_treated"], part["ADE_control"]
        with np.errstate(divide="ignore", invalid="ignore"):
            part["PM"] = part["NIE"] / part["TE"]
        part["NIE_mediator"] = unit * (single[key] - y[1, 0][key][:, None])
        names = ESTIMANDS + ("NIE_mediator",) if not key else ("NIE", "NDE", "TE", "NIE_mediator")
        out.update({f"{n}{suffix}": part[n] for n in names})
    return out


def _flat(posterior: dict, names=None) -> tuple[dict, tuple]:
    first = next(iter(posterior.values()))
    c, s = np.shape(first)[:2]
    keys = names or posterior
    return {k: np.asarray(posterior[k]).reshape((c * s,) + np.shape(posterior[k])[2:]) for k in keys}, (c, s)


def _chunks(model, flat: dict, data: dict, n_draws: int, chunk: int):
    for i in range(0, n_draws, chunk):
        yield model.paths({k: v[i:i + chunk] for k, v in flat.items()}, data)


def mediation_effects(model, posterior: dict, data: dict, x0: float, x1: float, *, horizon: float | None = None,
                      scale: float = 1.0, mediator_dim: str = "factor", mediator_labels=None,
                      chunk: int | None = None) -> xr.Dataset:
    """Posterior draws of the mediation estimands as an xarray Dataset.

    Parameters
    ----------
    model : a mediation model with ``paths(draws, data)`` (MediationModel or ObservedMediation).
    posterior : name -> (chain, draw, ...) aligned draws.  data : the model data (exposure, confounders).
    x0, x1, horizon, scale : see :func:`effects_from_paths`.
    mediator_dim, mediator_labels : the dim and labels of ``NIE_mediator`` (``factor`` or
        ``<view>_feature``).
    chunk : draws per block (default: about 2e6 subject x mediator entries per block).

    Returns
    -------
    Dataset with variables ESTIMANDS (chain, draw), 'NIE_mediator' (chain, draw, mediator_dim), and for
    survival RMST_ESTIMANDS, 'NIE_mediator_rmst'.
    """
    flat, (c, s) = _flat(posterior)
    n = np.asarray(data["exposure"]).shape[0]
    k = len(mediator_labels) if mediator_labels is not None else 1
    chunk = chunk or max(1, int(2e6 // max(n * k, 1)))
    parts = [effects_from_paths(p, x0, x1, horizon=horizon, scale=scale) for p in _chunks(model, flat, data, c * s, chunk)]
    out = {}
    for name in parts[0]:
        x = np.concatenate([p[name] for p in parts], axis=0)
        x = x.reshape((c, s) + x.shape[1:])
        dims = ("chain", "draw") + ((mediator_dim,) if x.ndim == 3 else ())
        out[name] = (dims, x)
    coords = {"chain": np.arange(c), "draw": np.arange(s)}
    if mediator_labels is not None:
        coords[mediator_dim] = list(mediator_labels)
    return xr.Dataset(out, coords=coords)


def _sensitivity_block(paths: dict, rho: np.ndarray, x0: float, x1: float, scale: float) -> dict:
    """NIE(rho), NDE(rho) (S, R) and TE (S,): see :func:`sensitivity`."""
    kind = paths["outcome"]
    if kind not in ("gaussian", "bernoulli"):
        raise SpecError(f"the sensitivity analysis covers gaussian and bernoulli outcomes, not '{kind}'.")
    if paths.get("d") is not None:
        raise SpecError("the sensitivity analysis assumes no exposure x mediator interaction (Imai et al. 2010); "
                        "refit with interaction=False.")
    b, a = paths["b"], paths["a"]
    if b.shape[-1] == 1:      # one mediator: M* = m / sd, Imai et al.'s rho itself (gamma = b sd keeps its sign)
        s_b = b[:, 0] * paths["med_sd"][:, 0]
        s_b = np.where(np.abs(s_b) < 1e-12, 1e-12, s_b)
    else:                     # several: the composite mediator b . m / |b sd| (unit error sd)
        s_b = np.maximum(np.sqrt(np.sum((b * paths["med_sd"]) ** 2, axis=-1)), 1e-12)
    a_star = np.sum(a * b, axis=-1) / s_b
    r = rho[None, :]
    root = np.sqrt(1.0 - r**2)
    dx = x1 - x0
    if kind == "gaussian":
        sigma = paths["nuisance"]["sigma"][:, None]
        nie = scale * dx * a_star[:, None] * (s_b[:, None] - r * sigma / root)
        te = scale * dx * (paths["direct"] + np.sum(a * b, axis=-1))
        return {"NIE": nie, "NDE": te[:, None] - nie, "TE": te}
    alpha2 = np.einsum("snk,sk->sn", paths["med_base"], b) / s_b[:, None]             # (S, n)
    g = (s_b / PROBIT_SCALE)[:, None] * root - r                                      # (S, R)
    beta3 = (paths["direct"] / PROBIT_SCALE)[:, None] * root + r * a_star[:, None]
    alpha3 = (paths["out_base"] / PROBIT_SCALE)[:, :, None] * root[:, None] + r[:, None] * alpha2[:, :, None]
    den = np.sqrt(g**2 + 2.0 * g * r + 1.0)[:, None]

    def y(t, tm):
        num = alpha3 + (beta3 * t)[:, None] + g[:, None] * (alpha2[:, :, None] + (a_star[:, None] * tm)[:, None])
        return ndtr(num / den).mean(axis=1)

    nie = y(x1, x1) - y(x1, x0)
    te = y(x1, x1) - y(x0, x0)
    return {"NIE": nie, "NDE": te - nie, "TE": te[:, 0]}


def sensitivity(model, posterior: dict, data: dict, rho, x0: float, x1: float, *, scale: float = 1.0,
                chunk: int = 200) -> xr.Dataset:
    """NIE and NDE when the mediator and outcome errors correlate with correlation rho (Imai, Keele &
    Tingley 2010, Psychol Methods 15:309, sec. "Sensitivity analysis"; Imai, Keele & Yamamoto 2010,
    Stat Sci 25:51, Theorem 2).

    The mediators enter the outcome through the index b . m; the sensitivity parameter is the
    correlation between the outcome's error and the error of the mediator: for one mediator m itself
    (Imai et al.'s rho; gamma = b sd below, signed), for several the composite mediator
    M* = b . m / |b sd| (unit error sd; gamma = |b sd| > 0, so rho > 0 means errors that push the
    outcome the same way as the mediators' combined effect). Given rho, the
    structural coefficients follow from the fitted (rho = 0) ones per draw:

    gaussian   ACME(rho) = (x1 - x0) a* (gamma - rho sigma_Y / sqrt(1 - rho^2)),  a* = a . b / |b sd|,
               gamma = b sd: Imai et al.'s a sigma_1 / sigma_2 (rho~ - rho sqrt((1 - rho~^2) / (1 - rho^2))),
               which is 0 at rho = rho~ = gamma / sqrt(gamma^2 + sigma_Y^2);
    bernoulli  the latent-variable (probit) form of Imai et al. with the logit model mapped to the
               probit scale (eta / 1.702): E[Y(t, M*(t'))] = Phi((alpha3 + beta3 t + gamma (alpha2 + a* t'))
               / sqrt(gamma^2 + 2 gamma rho + 1)) with gamma = gamma_obs sqrt(1 - rho^2) - rho,
               beta3 = beta_obs sqrt(1 - rho^2) + rho a*, alpha3 = alpha_obs sqrt(1 - rho^2) + rho alpha2.

    The total effect does not depend on rho (it is identified without the mediator assumption);
    NDE(rho) = TE - NIE(rho).

    Parameters
    ----------
    rho : values in (-1, 1).  Other parameters as :func:`mediation_effects`.

    Returns
    -------
    Dataset with NIE, NDE (rho, chain, draw) and TE (chain, draw).

    Raises
    ------
    SpecError  for a survival outcome, an interaction model or |rho| >= 1.
    """
    rho = np.atleast_1d(np.asarray(rho, dtype=float))
    if np.any(np.abs(rho) >= 1) or not np.all(np.isfinite(rho)):
        raise SpecError(f"rho must lie strictly between -1 and 1, got {rho.tolist()}.")
    flat, (c, s) = _flat(posterior)
    parts = [_sensitivity_block(p, rho, x0, x1, scale) for p in _chunks(model, flat, data, c * s, chunk)]
    out = {}
    for name in ("NIE", "NDE"):
        x = np.concatenate([p[name] for p in parts], axis=0).reshape(c, s, -1)
        out[name] = (("rho", "chain", "draw"), np.moveaxis(x, -1, 0))
    out["TE"] = (("chain", "draw"), np.concatenate([p["TE"] for p in parts]).reshape(c, s))
    return xr.Dataset(out, coords={"rho": rho, "chain": np.arange(c), "draw": np.arange(s)})


def observed_mediators_idata(draws: dict, model, arrays, sample_stats, confounder_names, random_state: int = 0):
    """InferenceData of a mediation model with observed mediators (no factors: nothing to align or order):
    the reported draws (:func:`rgfactor.posterior.idata.postprocess_draws`) with the dims their variables
    declare, and the mediator views as observed data (NaN = missing)."""
    import arviz as az

    from rgfactor.posterior.idata import postprocess_draws

    draws = postprocess_draws(draws, model, random_state)
    roles = model.variables()
    coords = {SUBJECT: list(arrays.subjects), "path": ["exposure_to_mediator", "mediator_to_outcome"]}
    coords.update({feature_dim(v.name): list(v.features) for v in arrays.views})
    if confounder_names:
        coords["confounder"] = list(confounder_names)
    dims = {k: list(roles[k].dims) for k in draws}
    dims.update({v.name: [SUBJECT, feature_dim(v.name)] for v in arrays.views})
    return az.from_dict(posterior=draws, observed_data={v.name: np.where(v.mask, v.y, np.nan) for v in arrays.views},
                        sample_stats=sample_stats, coords=coords, dims=dims)


def _row(x: np.ndarray, hdi_prob: float) -> dict:
    x = np.asarray(x, dtype=float).ravel()
    ok = x[np.isfinite(x)]
    low, high = hdi_bounds(ok, hdi_prob) if int(np.floor(hdi_prob * len(ok))) >= 1 and len(ok) > 2 else (np.nan, np.nan)
    return {"mean": float(np.mean(ok)) if len(ok) else np.nan, "sd": float(np.std(ok, ddof=1)) if len(ok) > 1 else np.nan,
            f"hdi_{50 - 50 * hdi_prob:g}%": float(low), f"hdi_{50 + 50 * hdi_prob:g}%": float(high),
            "p_positive": float(np.mean(ok > 0)) if len(ok) else np.nan}


def summarize(effects: xr.Dataset, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """One row per estimand (per-mediator ones as ``NIE_mediator[label]``): posterior mean, sd, the
    ``hdi_prob`` highest-density interval (columns ``hdi_3%``, ``hdi_97%`` at 0.94, as ArviZ) and
    the posterior probability that the effect is positive. Non-finite draws (PM when TE = 0) are
    left out of their row."""
    rows, index = [], []
    for name, da in effects.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            rows.append(_row(da.values, hdi_prob))
            index.append(name)
            continue
        for label in da[extra[0]].values:
            rows.append(_row(da.sel({extra[0]: label}).values, hdi_prob))
            index.append(f"{name}[{label}]")
    return pd.DataFrame(rows, index=pd.Index(index, name="estimand"))


def sensitivity_table(sens: xr.Dataset, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """Long table of :func:`sensitivity`: per rho and estimand (NIE, NDE) the mean and HDI; ``attrs``
    'rho_at_zero_NIE': the rho at which the posterior mean NIE crosses 0 (linear interpolation; NaN
    when it does not within the grid)."""
    rows = []
    for r in sens["rho"].values:
        for name in ("NIE", "NDE"):
            rows.append({"rho": float(r), "estimand": name, **_row(sens[name].sel(rho=r).values, hdi_prob)})
    tab = pd.DataFrame(rows)
    nie = tab[tab.estimand == "NIE"]
    tab.attrs["rho_at_zero_NIE"] = zero_crossing(nie["rho"].to_numpy(), nie["mean"].to_numpy())
    return tab


def zero_crossing(x: np.ndarray, y: np.ndarray) -> float:
    """The first x at which y changes sign, by linear interpolation; NaN when it does not."""
    s = np.sign(y)
    idx = np.flatnonzero(s[:-1] * s[1:] <= 0)
    if not len(idx):
        return float("nan")
    i = idx[0]
    if y[i + 1] == y[i]:
        return float(x[i])
    return float(x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
