"""Shared fixtures: small simulated cohorts and one fitted model reused across tests."""

import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf


@pytest.fixture(scope="session")
def small_cohort():
    """N=60 subjects, NB + Gaussian + Bernoulli views, 2 sites, missing views and entries."""
    views = {"rna": ("negative_binomial", 30), "radiomics": ("gaussian", 20), "mutations": ("bernoulli", 12)}
    return rgf.simulate.multiview(n_subjects=60, n_factors=2, views=views, n_sites=2, random_state=3)


@pytest.fixture(scope="session")
def fitted_small(small_cohort):
    data, _ = small_cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.GFA(n_factors=3, site_effects=True, num_draws=50, random_state=0).fit(data)  # default engine


def frame(values, prefix="f", n0=0):
    values = np.asarray(values, dtype=float)
    return pd.DataFrame(values, index=[f"s{i + n0}" for i in range(values.shape[0])],
                        columns=[f"{prefix}{j}" for j in range(values.shape[1])])
