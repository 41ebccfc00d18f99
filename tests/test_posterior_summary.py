"""Posterior layout for ArviZ (pseudo-chains of variational draws), rgfactor.summary, lfsr, and the
Methods description read from the model's components."""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace

import arviz as az
import numpy as np
import pytest

import rgfactor as rgf
from rgfactor.errors import DataError
from rgfactor.posterior.layout import is_variational, layout_draws, n_pseudo_chains
from rgfactor.posterior.methods import describe_component, describe_model
from rgfactor.posterior.summary import hdi_bounds, lfsr, loading_summary, summary


def idata_of(draws: dict, dims: dict | None = None, method: str = "cavi") -> az.InferenceData:
    return layout_draws(az.from_dict(posterior=draws, dims=dims or {}), method)


PSEUDO_CASES = [(500, 4), (50, 2), (99, 3), (101, 1), (8, 2), (6, 1), (16, 4)]  # (draws, pseudo-chains)


@pytest.mark.parametrize("n,c", PSEUDO_CASES)
def test_pseudo_chains_divide_without_dropping(n, c):
    assert n_pseudo_chains(n) == c


def test_layout_splits_variational_draws_in_order_and_says_so():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 40, 3))
    out = idata_of({"a": x}, {"a": ["feature"]}, method="svi")
    a = out.posterior["a"]
    assert a.shape == (4, 10, 3)
    np.testing.assert_array_equal(a.values.reshape(40, 3), x[0])   # the draws, in the order drawn
    attrs = out.posterior.attrs
    assert attrs["method"] == "svi" and attrs["inference_library"] == "numpyro"
    assert "variational" in attrs["draws_from"] and "pseudo-chains" in attrs["chain_meaning"]
    assert "not a convergence diagnostic" in attrs["chain_meaning"] and is_variational(out)


def test_layout_keeps_mcmc_chains():
    x = np.random.default_rng(1).normal(size=(2, 30))
    out = idata_of({"a": x}, method="nuts")
    assert out.posterior["a"].shape == (2, 30) and out.posterior.attrs["method"] == "nuts"
    assert "chain_meaning" not in out.posterior.attrs and not is_variational(out)


@pytest.mark.parametrize("prob", [0.5, 0.89, 0.94])
def test_hdi_matches_arviz(prob):
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.gamma(2.0, size=(300, 4)), rng.normal(size=(300, 4))], axis=1)   # skewed and symmetric
    low, high = hdi_bounds(x, prob)
    ref = az.hdi(x[None], hdi_prob=prob)   # (chain, draw, param) -> (param, 2)
    np.testing.assert_allclose(low, ref[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(high, ref[:, 1], rtol=0, atol=0)


def test_hdi_rejects_bad_probability():
    with pytest.raises(DataError, match="hdi_prob"):
        hdi_bounds(np.zeros((10, 2)), 1.2)


LFSR_CASES = [  # (draws, lfsr)
    (np.r_[np.ones(90), -np.ones(10)], 0.10),   # 90% positive: wrong sign with probability 0.1
    (np.r_[np.ones(50), -np.ones(50)], 0.50),
    (np.ones(100), 0.0),
    (np.zeros(100), 1.0),                       # an exact zero (inactive loading): no sign claimed
]


@pytest.mark.parametrize("draws,expected", LFSR_CASES)
def test_lfsr(draws, expected):
    assert lfsr(draws[:, None])[0] == pytest.approx(expected)


def test_default_fit_is_summarised_by_arviz_without_warnings(fitted_small, caplog):
    """The default (CAVI) fit: pseudo-chains, attributes, and az.summary silent (no warning, no log line).

    Variables are chosen without constant draws: spike-and-slab loadings whose inclusion probability is ~0
    are exactly 0 in every draw, and ArviZ's R-hat of a constant divides 0 by 0 (a RuntimeWarning, NaN)."""
    post = fitted_small.idata_.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 25          # 50 draws from q
    assert post.attrs["method"] == "cavi" and post.attrs["inference_library"] == "rgfactor"
    fitted_small.log_likelihood()   # computed on demand (issue 15), into idata_: the same pseudo-chain layout
    assert fitted_small.idata_.log_likelihood.sizes["chain"] == 2
    names = ["Z", "alpha_mutations", "intercept_rna", "site_effect_radiomics", "sigma_radiomics"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG):
            tab = az.summary(fitted_small.idata_, var_names=names)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text
    assert tab["r_hat"].notna().all() and (tab["ess_bulk"] > 0).all()


def test_summary_agrees_with_arviz_and_leaves_out_rhat_for_q(fitted_small):
    tab = rgf.summary(fitted_small)
    # draws are stored as float32; ArviZ would sum them in float32, rgfactor.summary in float64: give
    # ArviZ the same float64 values so that the two algorithms are compared, not the two precisions
    post64 = fitted_small.idata_.posterior.astype("float64")
    ref = az.summary(az.InferenceData(posterior=post64), kind="stats", round_to="none")
    assert list(tab.index) == list(ref.index)
    for col in ("mean", "sd", "hdi_3%", "hdi_97%"):
        np.testing.assert_allclose(tab[col].to_numpy(), ref[col].to_numpy(), rtol=1e-10, atol=1e-12)
    assert "r_hat" not in tab.columns and "independent draws" in tab.attrs["note"]
    assert tab.attrs["method"] == "cavi"
    with pytest.raises(DataError, match="unknown posterior variable"):
        summary(fitted_small, var_names=["W_nope"])


def test_summary_of_mcmc_draws_has_diagnostics():
    rng = np.random.default_rng(3)
    idata = idata_of({"a": rng.normal(size=(4, 100, 2)), "b": rng.normal(size=(4, 100))}, {"a": ["k"]}, "nuts")
    tab = summary(idata)
    assert {"ess_bulk", "ess_tail", "r_hat", "mcse_mean"} <= set(tab.columns)
    assert tab["r_hat"].between(0.98, 1.05).all()   # iid draws: R-hat ~ 1 (4 x 100 draws)


def test_loading_summary_rows_and_lfsr(fitted_small):
    t = loading_summary(fitted_small.idata_, "mutations")
    w = fitted_small.idata_.posterior["W_mutations"]
    assert len(t) == w.sizes["mutations_feature"] * w.sizes["factor"]
    row = t.iloc[0]
    draws = w.sel(mutations_feature=row["feature"], factor=row["factor"]).values.ravel()
    assert row["mean"] == pytest.approx(draws.mean())
    assert row["lfsr"] == pytest.approx(min((draws >= 0).mean(), (draws <= 0).mean()))
    assert [row["hdi_low"], row["hdi_high"]] == pytest.approx(list(az.hdi(draws, hdi_prob=0.94)))
    assert (t["hdi_low"] <= t["hdi_high"]).all() and t["lfsr"].between(0, 1).all()


def test_methods_text_reads_the_components(fitted_small):
    """The hyperparameters in the Methods sentences are read from the components: change the prior, the
    sentence changes (no hard-coded numbers)."""
    model = fitted_small.model_
    d = describe_model(model, "cavi")
    assert "Gamma}(1, 1)" in " ".join(d["views"][0]["sentences"])
    assert "bishop1999bpca" in d["cites"] and "polson2013polya" in d["cites"]   # ARD; Bernoulli/NB under CAVI
    assert any("Site random intercepts" in s for s in d["common"])            # said once for every view
    view = model.views[0]
    text, _ = describe_component(replace(view.loadings, shape=2.5, rate=0.3), view.name, "cavi")
    assert "Gamma}(2.5, 0.3)" in text
    text, _ = describe_component(object(), "v", "cavi")
    assert "edit this sentence" in text
