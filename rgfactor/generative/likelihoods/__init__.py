"""Likelihood registry: one module per observation model (see :mod:`.base` for the protocol)."""

from rgfactor.generative.likelihoods.base import LIKELIHOODS, Likelihood, get, register
from rgfactor.generative.likelihoods.gaussian import GAUSSIAN, Gaussian
from rgfactor.generative.likelihoods.counts import BERNOULLI, NEGATIVE_BINOMIAL, POISSON, Bernoulli, NegativeBinomial, Poisson
from rgfactor.generative.likelihoods.survival import SURVIVAL, Survival

__all__ = ["LIKELIHOODS", "Likelihood", "get", "register", "Gaussian", "Bernoulli", "NegativeBinomial", "Poisson",
           "Survival", "GAUSSIAN", "BERNOULLI", "NEGATIVE_BINOMIAL", "POISSON", "SURVIVAL"]
