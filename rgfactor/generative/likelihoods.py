"""Likelihood registry: one entry per observation model, each a small object with the same methods.

Every entry maps a linear predictor ``eta`` (link scale) and its nuisance parameters to a NumPyro
distribution, its mean on the data scale, and its latent-scale observation variance (used by
:func:`rgfactor.posterior.variance.variance_explained`).

Add a likelihood with :func:`register`; ``tests/test_likelihoods.py`` checks each against scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from rgfactor.errors import SpecError

LIKELIHOODS: dict[str, "Likelihood"] = {}


@dataclass(frozen=True)
class Likelihood:
    """An observation model on a link scale.

    Attributes
    ----------
    name : registry name.
    link : link function name ('identity', 'log', 'logit').
    nuisance : names of per-feature nuisance parameters (without the ``_<view>`` suffix).
    sample_nuisance : (view, n_features, scale) -> dict of sampled nuisance parameters (NumPyro sites).
    distribution : (eta, params) -> numpyro Distribution of y given eta.
    mean : (eta, params) -> E[y | eta] (data scale; counts per unit size factor).
    latent_variance : (eta, params) -> observation-level variance on the link scale (Nakagawa,
        Johnson & Schielzeth 2017, J R Soc Interface 14:20170213, Table 1).
    """

    name: str
    link: str
    nuisance: tuple[str, ...]
    sample_nuisance: Callable
    distribution: Callable
    mean: Callable
    latent_variance: Callable


def register(lik: Likelihood) -> Likelihood:
    LIKELIHOODS[lik.name] = lik
    return lik


def get(name: str) -> Likelihood:
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise SpecError(f"unknown likelihood '{name}'; registered: {sorted(LIKELIHOODS)}") from None


# ---------------------------------------------------------------------------- gaussian
def _gaussian_nuisance(view: str, n_features: int, scale: jax.Array) -> dict:
    with numpyro.plate(f"{view}_feature", n_features, dim=-1):
        return {"sigma": numpyro.sample(f"sigma_{view}", dist.HalfNormal(scale))}


register(Likelihood(
    name="gaussian", link="identity", nuisance=("sigma",),
    sample_nuisance=_gaussian_nuisance,
    distribution=lambda eta, p: dist.Normal(eta, p["sigma"]),
    mean=lambda eta, p: eta,
    latent_variance=lambda eta, p: jnp.broadcast_to(p["sigma"] ** 2, jnp.shape(eta)),
))


# ---------------------------------------------------------------------------- negative binomial
# mean mu = exp(eta), variance mu + mu^2 / phi  (phi = dispersion_<view>; NB2, Hilbe 2011).
# dispersion ~ LogNormal(log 5, 1.5): 95% prior mass on phi in (0.27, 95).
def _nb_nuisance(view: str, n_features: int, scale: jax.Array) -> dict:
    with numpyro.plate(f"{view}_feature", n_features, dim=-1):
        return {"dispersion": numpyro.sample(f"dispersion_{view}", dist.LogNormal(jnp.log(5.0), 1.5))}


def _nb_distribution(eta, p):
    phi = p["dispersion"]
    return dist.NegativeBinomialLogits(total_count=phi, logits=eta - jnp.log(phi))


register(Likelihood(
    name="negative_binomial", link="log", nuisance=("dispersion",),
    sample_nuisance=_nb_nuisance,
    distribution=_nb_distribution,
    mean=lambda eta, p: jnp.exp(eta),
    latent_variance=lambda eta, p: jnp.log1p(jnp.exp(-eta) + 1.0 / p["dispersion"]),
))


# ---------------------------------------------------------------------------- poisson
register(Likelihood(
    name="poisson", link="log", nuisance=(),
    sample_nuisance=lambda view, n_features, scale: {},
    distribution=lambda eta, p: dist.Poisson(jnp.exp(jnp.clip(eta, -30.0, 30.0))),
    mean=lambda eta, p: jnp.exp(eta),
    latent_variance=lambda eta, p: jnp.log1p(jnp.exp(-eta)),
))


# ---------------------------------------------------------------------------- bernoulli
register(Likelihood(
    name="bernoulli", link="logit", nuisance=(),
    sample_nuisance=lambda view, n_features, scale: {},
    distribution=lambda eta, p: dist.BernoulliLogits(eta),
    mean=lambda eta, p: jax.nn.sigmoid(eta),
    latent_variance=lambda eta, p: jnp.full(jnp.shape(eta), jnp.pi ** 2 / 3.0),
))
