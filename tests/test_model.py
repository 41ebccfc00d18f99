"""GFA end to end on small data: the InferenceData contract, determinism, persistence, new subjects."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import rgfactor as rgf
from rgfactor.errors import DataError, NotFittedError, SpecError

from conftest import frame


def quick_fit(data, **kw):
    params = dict(n_factors=2, method="svi", max_iter=200, num_draws=20, random_state=0)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.GFA(**params).fit(data)


LIKELIHOODS = {"a": "gaussian", "b": "negative_binomial", "c": "bernoulli", "d": "poisson"}


@pytest.fixture(scope="module")
def every_likelihood_fit():
    """One SVI fit with a view of each likelihood and site effects: one compiled model for the four
    likelihoods' InferenceData contract (a fit per likelihood compiled four programs, ~25 s each)."""
    views = {name: (lik, 7 if name == "a" else 5) for name, lik in LIKELIHOODS.items()}
    data, _ = rgf.simulate.multiview(n_subjects=25, n_factors=2, views=views, n_sites=2, random_state=1)
    model = quick_fit(data, site_effects=True)
    return data, model, tuple(model.idata_.groups())   # the groups before any test asks for more


@pytest.mark.parametrize("view", list(LIKELIHOODS))
def test_idata_dims_for_each_likelihood(every_likelihood_fit, view):
    data, model, fitted_groups = every_likelihood_fit
    post = model.idata_.posterior
    assert post["Z"].dims == ("chain", "draw", "subject", "factor")
    assert post["Z"].shape == (4, 5, 25, 2)   # 20 draws from q as 4 pseudo-chains (rgfactor.posterior.layout)
    assert post[f"W_{view}"].dims == ("chain", "draw", f"{view}_feature", "factor")
    assert post[f"alpha_{view}"].dims == ("chain", "draw", "factor")
    assert post[f"intercept_{view}"].dims == ("chain", "draw", f"{view}_feature")
    assert post[f"site_effect_{view}"].dims == ("chain", "draw", "site", f"{view}_feature")
    nuisance = {"gaussian": f"sigma_{view}", "negative_binomial": f"dispersion_{view}"}.get(LIKELIHOODS[view])
    if nuisance:
        assert post[nuisance].dims == ("chain", "draw", f"{view}_feature")
    assert not any(v.startswith(("site_raw_", "lambda_")) for v in post.data_vars)
    assert "log_likelihood" not in fitted_groups           # computed on demand only
    ll = model.log_likelihood()
    assert set(ll.data_vars) == set(LIKELIHOODS) and ll[view].dims == ("chain", "draw", "subject")
    assert tuple(post[f"{view}_feature"].values) == data.to_arrays().view(view).features
    # the nuisance parameters of the other likelihoods are not invented for this view
    others = {"sigma", "dispersion"} - ({nuisance.split("_")[0]} if nuisance else set())
    assert not any(f"{o}_{view}" in post.data_vars for o in others)


def test_fitted_attributes(fitted_small, small_cohort):
    data, _ = small_cohort
    m = fitted_small
    assert m.factors_.dims == ("subject", "factor") and m.factors_.shape == (60, 3)
    assert list(m.factors_["subject"].values) == list(data.subjects)
    assert set(m.loadings_) == {"rna", "radiomics", "mutations"}
    assert m.loadings_["rna"].dims == ("rna_feature", "factor")
    ve = m.variance_explained()
    assert ve.dims == ("view", "factor") and ve.shape == (3, 3)
    assert float(ve.min()) >= 0.0 and float(ve.max()) <= 1.0
    total = m.variance_explained(total=True)
    # all factors together: a fraction too (not >= the largest single factor in general: posterior-mean
    # factor scores can be correlated); the definition itself is checked in test_variance.py
    assert total.dims == ("view",) and np.all((total.values > 0.0) & (total.values <= 1.0))
    # canonical order: total variance explained is non-increasing over factors
    assert np.all(np.diff(ve.sum("view").values) <= 1e-9)


def test_log_likelihood_is_zero_for_subjects_missing_a_view(fitted_small, small_cohort):
    data, _ = small_cohort
    missing = data.views["radiomics"].isna().all(axis=1).to_numpy()
    assert missing.any()
    ll = fitted_small.log_likelihood()["radiomics"].values
    assert np.all(ll[:, :, missing] == 0.0) and np.all(ll[:, :, ~missing] != 0.0)


def test_log_likelihood_matches_scipy_for_one_draw(fitted_small, small_cohort):
    from scipy import stats

    data, _ = small_cohort
    post = fitted_small.idata_.posterior.isel(chain=0, draw=3)
    y = fitted_small.idata_.observed_data["radiomics"].values
    site = fitted_small.idata_.constant_data["site_code"].values
    mu = (post["intercept_radiomics"].values + post["Z"].values @ post["W_radiomics"].values.T
          + post["site_effect_radiomics"].values[site])
    # site_effects=True: a site scales each feature's noise precision by kappa[site, feature]
    sd = post["sigma_radiomics"].values / np.sqrt(post["site_scale_radiomics"].values[site])
    lp = stats.norm(mu, sd).logpdf(y)
    expected = np.nansum(lp, axis=1)
    np.testing.assert_allclose(fitted_small.log_likelihood()["radiomics"].values[0, 3], expected, rtol=1e-4)


@pytest.mark.parametrize("method", ["svi", "cavi"])
def test_same_seed_same_result(small_cohort, method):
    data, _ = small_cohort
    a, b = quick_fit(data, method=method), quick_fit(data, method=method)
    for name in a.idata_.posterior.data_vars:
        np.testing.assert_array_equal(a.idata_.posterior[name].values, b.idata_.posterior[name].values)
    c = quick_fit(data, method=method, random_state=1)
    assert not np.array_equal(a.idata_.posterior["Z"].values, c.idata_.posterior["Z"].values)


def test_default_method_is_the_closed_form_engine_where_supported(fitted_small, small_cohort):
    """'auto' picks the closed-form engine when every component has a conjugate update, else SVI;
    which engines can fit a model is read from its components."""
    from rgfactor.generative.model import describe
    from rgfactor.inference.engines import resolve_engine

    assert fitted_small.get_params()["method"] == "auto"
    assert fitted_small.diagnostics_["method"] == "cavi"
    assert fitted_small.diagnostics_["sparsity"] == "spike_and_slab"
    arrays = small_cohort[0].to_arrays()
    for est in (rgf.GFA(2, sparsity="horseshoe"), rgf.GFA(2, sparsity="ard"), rgf.PCCA(1, 1), rgf.PPLS(1, response="mutations")):
        build = lambda sp, est=est: (lambda c: (c, describe(c)))(est._config(arrays, sp))  # noqa: E731
        engine, sparsity, _, model = resolve_engine("auto", est.sparsity, build)
        expected = "svi" if est.sparsity == "horseshoe" else "cavi"
        assert engine == expected and engine in model.engines, (type(est).__name__, engine)
        assert sparsity == {"auto": "spike_and_slab"}.get(est.sparsity, est.sparsity)


def test_cavi_idata_contract_with_all_four_likelihoods():
    views = {"g": ("gaussian", 6), "nb": ("negative_binomial", 5), "b": ("bernoulli", 5), "p": ("poisson", 4)}
    data, _ = rgf.simulate.multiview(n_subjects=30, n_factors=2, views=views, n_sites=2, random_state=2)
    model = quick_fit(data, method="cavi", site_effects=True)
    post = model.idata_.posterior
    for v in views:
        assert post[f"W_{v}"].dims == ("chain", "draw", f"{v}_feature", "factor")
        assert post[f"site_effect_{v}"].dims == ("chain", "draw", "site", f"{v}_feature")
        assert model.log_likelihood()[v].dims == ("chain", "draw", "subject")
        assert np.all(np.isfinite(model.log_likelihood()[v].values))
    assert post["sigma_g"].dims == ("chain", "draw", "g_feature")
    assert post["dispersion_nb"].dims == ("chain", "draw", "nb_feature")
    assert len(model.diagnostics_["elbo"]) == model.diagnostics_["n_steps"]


def test_save_load_exact_round_trip(fitted_small, small_cohort, tmp_path):
    data, _ = small_cohort
    fitted_small.save(tmp_path / "fit")
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == ["model.json", "posterior.nc", "rgfactor-manifest.json"]
    loaded = rgf.load(tmp_path / "fit")
    assert type(loaded) is rgf.GFA and loaded.get_params() == fitted_small.get_params()
    for group in fitted_small.idata_.groups():
        xr.testing.assert_identical(getattr(loaded.idata_, group), getattr(fitted_small.idata_, group))
    xr.testing.assert_identical(loaded.variance_explained(), fitted_small.variance_explained())
    np.testing.assert_array_equal(loaded.transform(data).values, fitted_small.transform(data).values)


def test_no_pickle_in_saved_fit(fitted_small, tmp_path):
    fitted_small.save(tmp_path / "fit")
    for p in (tmp_path / "fit").iterdir():
        assert p.suffix in (".nc", ".json")


def test_transform_training_subjects_agrees_with_posterior(fitted_small, small_cohort):
    data, _ = small_cohort
    z_new = fitted_small.transform(data)
    assert z_new.dims == ("subject", "factor")
    for k in range(2):  # the two leading factors carry signal
        r = np.corrcoef(z_new.values[:, k], fitted_small.factors_.values[:, k])[0, 1]
        assert r > 0.95


def test_transform_and_predict_from_radiomics_only(fitted_small, small_cohort):
    data, truth = small_cohort
    rad_only = rgf.MultiViewData.from_pandas({"radiomics": data.views["radiomics"].dropna(how="all")},
                                             {"radiomics": "gaussian"})
    z = fitted_small.transform(rad_only)
    assert z.shape == (rad_only.n_subjects, 3)
    pred = fitted_small.predict(rad_only, view="mutations")
    assert pred.dims == ("subject", "mutations_feature")
    assert float(pred.min()) > 0.0 and float(pred.max()) < 1.0
    # predictions from imaging beat the marginal frequency at ranking the observed mutations
    obs = data.views["mutations"].reindex(index=pred["subject"].values, columns=pred["mutations_feature"].values)
    mask = obs.notna().to_numpy()
    y = obs.to_numpy()[mask]
    p_model = pred.values[mask]
    p_marginal = np.broadcast_to(np.nanmean(obs.to_numpy(), axis=0), obs.shape)[mask]
    brier_model = np.mean((p_model - y) ** 2)
    brier_marginal = np.mean((p_marginal - y) ** 2)
    assert brier_model < brier_marginal


def test_predict_ignores_the_predicted_views_own_values(fitted_small, small_cohort):
    data, _ = small_cohort
    p1 = fitted_small.predict(data, view="radiomics")
    changed = rgf.MultiViewData.from_pandas({**data.views, "radiomics": data.views["radiomics"] + 5.0},
                                            data.likelihoods, site=data.site)
    p2 = fitted_small.predict(changed, view="radiomics")
    np.testing.assert_allclose(p1.values, p2.values, rtol=1e-5, atol=1e-5)


def test_errors(fitted_small, small_cohort):
    data, _ = small_cohort
    with pytest.raises(NotFittedError, match="not fitted"):
        rgf.GFA().factors_
    with pytest.raises(SpecError, match="unknown method 'gibbs'"):
        rgf.GFA().fit(data, method="gibbs")
    with pytest.raises(SpecError, match="sparsity='spike_and_slab' is not available with method='svi'.*'cavi'"):
        rgf.GFA(sparsity="spike_and_slab").fit(data, method="svi")
    with pytest.raises(SpecError, match="sparsity='horseshoe' is not available with method='cavi'.*'svi' or 'nuts'"):
        rgf.GFA(sparsity="horseshoe").fit(data, method="cavi")
    with pytest.raises(DataError, match="MultiViewData"):
        rgf.GFA().fit(np.zeros((3, 3)))
    with pytest.raises(DataError, match="unknown view 'protein'"):
        fitted_small.predict(data, view="protein")
    other = rgf.MultiViewData.from_pandas({"protein": frame(np.random.default_rng(0).normal(size=(5, 2)))},
                                          {"protein": "gaussian"})
    with pytest.raises(DataError, match="view 'protein' was not part of the fitted model"):
        fitted_small.transform(other)


def test_sklearn_clone_and_params():
    from sklearn.base import clone

    m = rgf.GFA(n_factors=4, site_effects=True)
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    c.set_params(n_factors=7)
    assert c.n_factors == 7 and m.n_factors == 4


def test_horseshoe_model_fits(small_cohort):
    data, _ = small_cohort
    m = quick_fit(data, sparsity="horseshoe")
    assert "c2_rna" in m.idata_.posterior and m.diagnostics_["sparsity"] == "horseshoe"


def test_covariates_enter_the_model():
    data, _ = rgf.simulate.multiview(n_subjects=30, n_factors=2, views={"a": ("gaussian", 6)}, n_sites=0)
    cov = pd.DataFrame({"age": np.linspace(0, 1, 30)}, index=data.subjects)
    data = rgf.MultiViewData.from_pandas(data.views, data.likelihoods, covariates=cov)
    m = quick_fit(data)
    assert m.idata_.posterior["beta_a"].dims == ("chain", "draw", "covariate", "a_feature")
    assert m.idata_.constant_data["covariates"].dims == ("subject", "covariate")
