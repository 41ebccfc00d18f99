"""Multi-region factors: (subject, region) views beside subject-level views, the region data role,
subject-level factors plus a smooth within-subject deviation (rgfactor.generative.region_factors),
recovery of the factors and the variance shares on simulated cohorts with known truth."""

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import DataError, SpecError

SUBJECTS, REGIONS = ["a", "b", "c", "d"], ["r1", "r2", "r3"]
GRID = pd.MultiIndex.from_product([SUBJECTS, REGIONS], names=["subject", "region"])


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    img = pd.DataFrame(rng.normal(size=(12, 4)), index=GRID, columns=list("wxyz"))
    gen = pd.DataFrame(rng.normal(size=(4, 3)), index=SUBJECTS, columns=["g1", "g2", "g3"])
    coords = pd.DataFrame({"depth": np.tile([0.2, 0.5, 0.8], 4)}, index=GRID)
    return {"img": img, "gen": gen}, coords


LIK = {"img": "gaussian", "gen": "gaussian"}


# ----------------------------------------------------------------------------- data role
@pytest.mark.timeout(60)
def test_region_views_on_the_subject_region_grid():
    views, coords = _inputs()
    views["img"] = views["img"].drop(("b", "r3"))          # a pair without data (and with a coordinate)
    before = {k: v.copy() for k, v in views.items()}, coords.copy()
    data = rgf.MultiViewData.from_pandas(views, LIK, coordinates=coords.drop(("b", "r3")))
    for k in views:                                        # nothing passed is modified
        pd.testing.assert_frame_equal(views[k], before[0][k])
    pd.testing.assert_frame_equal(coords, before[1])
    assert list(data.regions) == REGIONS and list(data.subjects) == SUBJECTS
    arrays = data.to_arrays()
    img, gen = arrays.view("img"), arrays.view("gen")
    assert (img.level, gen.level) == ("region", "subject")
    assert img.y.shape == (12, 4) and gen.y.shape == (4, 3)
    assert not img.mask[SUBJECTS.index("b") * 3 + 2].any() and img.mask.sum() == 44
    # the pair without a coordinate gets its region's mean coordinate
    assert arrays.coordinates[SUBJECTS.index("b") * 3 + 2, 0] == pytest.approx(0.8)
    sub = data.subset(["c", "a"])
    assert list(sub.views["img"].index.get_level_values(0)) == ["c"] * 3 + ["a"] * 3
    assert sub.coordinates.index.equals(sub.views["img"].index)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("edit, match", [
    (lambda v, c: (v, None), "indexed by \\(subject, region\\); pass coordinates="),
    (lambda v, c: (v, c.droplevel(1).iloc[:4]), "must be indexed by \\(subject, region\\)"),
    (lambda v, c: ({**v, "img": pd.concat([v["img"], v["img"].iloc[[4]]])}, c), "subject 'b', region 'r2' more than once"),
    (lambda v, c: (v, c.drop(("c", "r2"))), "view 'img': subject 'c', region 'r2' has data but no coordinate"),
    (lambda v, c: (v, c.drop([(s, "r3") for s in SUBJECTS])), "view 'img' has region 'r3'"),
    (lambda v, c: (v, c.assign(depth=c["depth"].where(c.index != ("d", "r1"), np.nan))),
     "subject 'd', region 'r1', coordinate 'depth' is nan"),
    (lambda v, c: (v, pd.concat([c, c.iloc[[0]].set_axis(pd.MultiIndex.from_tuples([("zz", "r1")]))])),
     "subject 'zz', which no view has"),
    (lambda v, c: (v, c.assign(depth=0.5)), "column 'depth' takes one value"),
    (lambda v, c: ({"gen": v["gen"]}, c), "coordinates are indexed by \\(subject, region\\) but no view is"),
])
def test_region_input_errors_name_the_culprit(edit, match):
    views, coords = _inputs()
    views, coords = edit(views, coords)
    with pytest.raises(DataError, match=match):
        rgf.MultiViewData.from_pandas(views, {k: LIK[k] for k in views}, coordinates=coords)


@pytest.mark.timeout(120)
def test_engines_and_priors_that_cannot_fit_region_views_say_what_to_use():
    views, coords = _inputs()
    data = rgf.MultiViewData.from_pandas(views, LIK, coordinates=coords)
    with pytest.raises(SpecError, match="method='cavi' has no update for RegionFactors.*'svi' or 'nuts'"):
        rgf.GFA(n_factors=1, factor_prior="gp").fit(data, method="cavi")
    with pytest.raises(SpecError, match="need factor_prior='gp'"):
        rgf.GFA(n_factors=1).fit(data)


# ----------------------------------------------------------------------------- recovery
# truth: factor 1 has a smooth within-subject deviation and a population trend, factor 2 none
SHARES = ((0.5, 0.4, 0.1), (0.9, 0.0, 0.1))


@pytest.fixture(scope="module")
def svi_fit():
    # distinct loading scales: the factors are the principal axes (identified up to sign and order)
    data, truth = rgf.simulate.regions(60, 5, shares=SHARES, lengthscales=(0.4, 0.4), trend_sd=(0.5, 0.0),
                                       factor_scales=(1.0, 0.6), random_state=1)
    model = rgf.GFA(n_factors=2, factor_prior="gp", random_state=0, max_iter=1200, progress=False)
    with pytest.warns(rgf.errors.ConvergenceWarning):   # SVI at max_iter
        model.fit(data, method="auto")
    return model, data, truth


def _match(model, truth):
    z = model.idata_.posterior["Z"].mean(("chain", "draw")).values
    c = np.corrcoef(np.c_[z, truth["Z"]].T)[:2, 2:]
    order = [int(np.argmax(np.abs(c[:, j]))) for j in range(2)]   # fitted factor of each true factor
    assert sorted(order) == [0, 1]
    return order, np.array([c[order[j], j] for j in range(2)])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_subject_factors_and_shares_recovered(svi_fit):
    model, data, truth = svi_fit
    assert model.diagnostics_["method"] == "svi"     # 'auto' skips the closed form, which has no update here
    order, corr = _match(model, truth)
    assert np.all(np.abs(corr) > 0.95), corr
    shares = model.region_shares()
    smooth = shares["smooth_within"].to_numpy()[order]
    between = shares["between_subject"].to_numpy()[order]
    # truth (finite-population, this draw): between 0.56 / 0.88, trend 0.13 / 0, smooth 0.17 / 0
    true = truth["shares"]
    assert np.all(np.abs(between - true[0]) < 0.1), (between, true[0])
    assert smooth[1] < 0.02 and smooth[0] > 0.03 and smooth[0] > 5 * smooth[1], smooth
    assert shares["population_trend"].to_numpy()[order][1] < 0.02
    # every interval holds its mean
    for part in ("between_subject", "smooth_within", "independent", "lengthscale"):
        assert np.all(shares[f"{part}_2.5%"] <= shares[part]) and np.all(shares[part] <= shares[f"{part}_97.5%"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_region_factors_aligned_with_subject_factors_and_reported(svi_fit):
    model, data, truth = svi_fit
    post = model.idata_.posterior
    assert post["Z_region"].dims[2:] == ("subject", "region", "factor")
    assert list(post["region"].values) == list(data.regions)
    # the sign convention flips Z and Z_region together: a region-level factor's subject mean follows Z
    zr = post["Z_region"].mean(("chain", "draw", "region")).values
    z = post["Z"].mean(("chain", "draw")).values
    assert all(np.corrcoef(zr[:, k], z[:, k])[0, 1] > 0.7 for k in range(2))
    order, _ = _match(model, truth)
    zr_true = truth["Z_region"].reshape(-1, 2)
    zr_fit = post["Z_region"].mean(("chain", "draw")).values.reshape(-1, 2)
    assert all(abs(np.corrcoef(zr_fit[:, order[j]], zr_true[:, j])[0, 1]) > 0.9 for j in range(2))
    assert model.idata_.observed_data["imaging"].dims == ("subject", "region", "imaging_feature")
    assert model.variance_explained_.shape == (2, 2) and np.all(model.variance_explained_ > 0.05)
    assert model.factors_.dims == ("subject", "factor")
    ll = model.log_likelihood()
    assert ll["imaging"].dims == ("chain", "draw", "subject") and np.isfinite(ll["imaging"].values).all()
    with pytest.raises(SpecError, match="region_shares"):
        model.factor_smoothness()
    with pytest.raises(SpecError, match="Z_region"):
        model.factors_at(data.coordinates.droplevel(1).iloc[:2])
    with pytest.raises(SpecError, match="not available for multi-region"):
        model.transform(data)


# ----------------------------------------------------------------------------- scale of the parts
@pytest.mark.timeout(60)
def test_smooth_parts_have_unit_mean_variance_over_the_observed_pairs_at_any_lengthscale():
    # without the normalisation a long-lengthscale curve, centred within each subject, has variance ~0
    # there, and a smooth share rho_w then carried no variance (it traded against the loadings' size)
    import jax.numpy as jnp

    from rgfactor.generative.hsgp import HSGPBasis
    from rgfactor.generative.region_factors import _weight_sd, _within_subject_phi, region_factor_settings

    rng = np.random.default_rng(0)
    s, r = 40, 4
    coords = (np.sort(rng.uniform(0, 1, (s, r)), axis=1)).reshape(-1, 1)
    observed = rng.uniform(size=(s, r)) > 0.2
    settings = region_factor_settings(coords, r, observed=observed)
    basis = HSGPBasis.from_json(settings["basis"])
    phi = np.asarray(_within_subject_phi(basis, jnp.asarray(coords), jnp.asarray(observed)))   # (S, R, m)
    n_draws = 4000
    for ls in (0.05, 0.3, 2.0):
        sd = np.asarray(_weight_sd(basis, jnp.full(1, ls), jnp.asarray(settings["phi_var"])))[:, 0]   # (m,)
        f = np.einsum("srm,dm->dsr", phi, rng.normal(size=(n_draws, sd.size)) * sd)
        mean_sq = (f ** 2)[:, observed].mean(1)            # each draw's mean square over the observed pairs
        se = mean_sq.std() / np.sqrt(n_draws)
        assert abs(mean_sq.mean() - 1.0) < 4 * se, (ls, mean_sq.mean(), se)
        assert np.allclose(np.where(observed[None], f, 0).sum(-1), 0, atol=1e-4)   # centred within subjects


@pytest.mark.timeout(60)
def test_subject_factors_are_standardised_over_the_subjects():
    from rgfactor.generative.region_factors import standardise_subjects

    z = np.asarray(standardise_subjects(np.random.default_rng(1).normal(2.0, 3.0, size=(2, 5, 30, 3))))
    assert np.allclose(z.mean(-2), 0, atol=1e-6) and np.allclose(z.var(-2), 1, atol=1e-5)
