"""Data layer: validation errors name the culprit; preprocessing is stored and re-applied."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.data import size_factors
from rgfactor.errors import DataError, DataWarning

from conftest import frame

RNG = np.random.default_rng(0)
COUNTS = frame(RNG.poisson(20, size=(8, 5)), "g")
RAD = frame(RNG.normal(size=(8, 4)), "r")
MUT = frame(RNG.integers(0, 2, size=(8, 3)), "m")
LIKS = {"rna": "negative_binomial", "radiomics": "gaussian", "mutations": "bernoulli"}


def views(**over):
    v = {"rna": COUNTS, "radiomics": RAD, "mutations": MUT}
    v.update(over)
    return v


def with_value(df, i, j, value):
    out = df.copy()
    out.iat[i, j] = value
    return out


BAD = [  # (views, likelihoods, extra kwargs, message fragment naming the culprit)
    (views(rna=with_value(COUNTS, 2, 1, -3)), LIKS, {}, "view 'rna' .* negative counts, e.g. subject 's2', feature 'g1'"),
    (views(rna=with_value(COUNTS, 4, 0, 12.5)), LIKS, {}, "non-integer values, e.g. subject 's4', feature 'g0' = 12.5"),
    (views(mutations=with_value(MUT, 1, 2, 2)), LIKS, {}, "view 'mutations' .* other than 0/1: subject 's1', feature 'm2'"),
    (views(radiomics=with_value(RAD, 3, 3, np.inf)), LIKS, {}, "infinite value: subject 's3', feature 'r3'"),
    (views(radiomics=pd.concat([RAD, RAD.iloc[[0]]])), LIKS, {}, "view 'radiomics' has subject ID 's0' more than once"),
    (views(radiomics=RAD.iloc[:0]), LIKS, {}, "view 'radiomics' is empty"),
    (views(), {**LIKS, "rna": "zip"}, {}, "view 'rna': unknown likelihood 'zip'"),
    (views(), {k: v for k, v in LIKS.items() if k != "rna"}, {}, "view 'rna' has no likelihood"),
    ({"a": frame(np.ones((3, 2)) + np.eye(3, 2), "a"), "b": frame(np.eye(3, 2), "b", n0=10)},
     {"a": "gaussian", "b": "gaussian"}, {}, "no subject is shared by any two views"),
    (views(), LIKS, {"site": pd.Series(["A"] * 7, index=COUNTS.index[:7])}, "site is missing for 1 subject.*'s7'"),
    (views(), LIKS, {"covariates": pd.DataFrame({"age": [1.0] * 7 + [np.nan]}, index=COUNTS.index)},
     "covariates is NaN for 1 subject.*'s7'"),
    (views(radiomics=RAD.assign(r0=["x"] * 8)), LIKS, {}, "non-numeric feature 'r0'"),
]


@pytest.mark.parametrize("v,liks,kwargs,msg", BAD)
def test_bad_input_raises_data_error_naming_culprit(v, liks, kwargs, msg):
    with pytest.raises(DataError, match=msg):
        rgf.MultiViewData.from_pandas(v, liks, **kwargs)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_subjects_are_the_union_and_missing_views_are_masked():
    rad = RAD.iloc[2:]  # subjects s0, s1 lack radiomics
    extra = frame(RNG.normal(size=(2, 4)), "r", n0=8)  # s8, s9 have radiomics only
    data = rgf.MultiViewData.from_pandas(views(radiomics=pd.concat([rad, extra])), LIKS)
    assert list(data.subjects) == [f"s{i}" for i in range(10)]
    arrays = data.to_arrays()
    rv = arrays.view("radiomics")
    assert not rv.mask[:2].any() and rv.mask[2:].all()
    assert not arrays.view("rna").mask[8:].any()
    assert np.all(rv.y[:2] == 0.0)  # masked entries hold a neutral value, never an imputed one


def test_nan_entries_are_masked_not_imputed():
    data = rgf.MultiViewData.from_pandas(views(radiomics=with_value(RAD, 5, 2, np.nan)), LIKS)
    rv = data.to_arrays().view("radiomics")
    assert not rv.mask[5, 2] and rv.mask.sum() == RAD.size - 1


def test_input_frames_are_not_modified():
    rad = RAD.copy()
    site = pd.Series(list("ABABABAB"), index=COUNTS.index)
    site_copy = site.copy()
    data = rgf.MultiViewData.from_pandas(views(radiomics=rad), LIKS, site=site, transforms={"radiomics": "yeo-johnson"})
    data.to_arrays()
    pd.testing.assert_frame_equal(rad, RAD)
    pd.testing.assert_series_equal(site, site_copy)


def test_constant_feature_warns_and_is_dropped():
    data = rgf.MultiViewData.from_pandas(views(radiomics=RAD.assign(r1=1.0)), LIKS)
    with pytest.warns(DataWarning, match="view 'radiomics': dropping 1 constant"):
        arrays = data.to_arrays()
    assert "r1" not in arrays.view("radiomics").features


def test_size_factors_median_of_ratios_by_hand():
    counts = np.array([[10, 20, 30, 0], [20, 40, 60, 5], [5, 10, 15, 1]], dtype=float)
    sf, lgm, _ = size_factors(counts, method="median_of_ratios")
    ref = np.exp(np.log(counts[:, :3]).mean(0))  # features positive in every subject
    expected = np.median(counts[:, :3] / ref, axis=1)
    np.testing.assert_allclose(sf, expected / np.exp(np.log(expected).mean()))   # geometric mean 1
    assert np.isnan(lgm[3])


def test_size_factors_poscounts_by_hand():
    """DESeq2's poscounts: reference exp(sum of log positive counts / n), per subject the median of
    log ratios over its positive counts, centred to geometric mean 1."""
    counts = np.array([[0, 4, 8], [3, 0, 9], [6, 2, 0]], dtype=float)
    sf, lgm, _ = size_factors(counts, method="poscounts")
    logc = np.log(np.where(counts > 0, counts, 1.0))
    ref = logc.sum(0) / 3
    np.testing.assert_allclose(lgm, ref)
    raw = np.array([np.median((logc[i] - ref)[counts[i] > 0]) for i in range(3)])
    np.testing.assert_allclose(np.log(sf), raw - raw.mean())


@pytest.mark.parametrize("mean_count,de", [(1.0, 0.0), (2.0, 0.0), (5.0, 0.0), (1.0, 0.1), (5.0, 0.1)])
def test_default_size_factors_survive_low_counts_and_differential_features(mean_count, de):
    """NB counts with 1-5 counts per entry on average (N=200 subjects, D=300 features, true log size
    factors sd 0.3; 41% zeros at mean 1), optionally 10% of features 7-fold up in half the subjects:
    the default estimator tracks the true size factors (corr >= 0.85; measured 0.90-0.99), where median
    of ratios finds no feature without a zero below mean 5. Threshold: at mean 1 the sampling error of
    a size factor from ~180 positive counts alone keeps corr below ~0.97."""
    rng = np.random.default_rng(int(mean_count))
    log_sf = rng.normal(0, 0.3, 200)
    base = rng.normal(np.log(mean_count), 0.5, 300)
    eff = np.zeros((200, 300))
    if de:
        eff[np.ix_(rng.random(200) < 0.5, rng.random(300) < de)] = 2.0
    mu = np.exp(base[None, :] + log_sf[:, None] + eff)
    counts = rng.poisson(rng.gamma(5.0, mu / 5.0)).astype(float)
    sf, lgm, _ = size_factors(counts)
    assert np.corrcoef(np.log(sf), log_sf)[0, 1] >= 0.85
    assert np.isfinite(lgm).sum() >= 250     # nearly every feature is in the reference
    if mean_count < 5:
        with pytest.raises(DataError, match="no positive count among the 0 reference features"):
            size_factors(counts, method="median_of_ratios")


def test_size_factor_error_names_subject_and_view():
    counts = frame(np.array([[3, 4], [0, 0], [5, 1]], dtype=float), "g")
    counts.iloc[1] = 0.0
    data = rgf.MultiViewData.from_pandas({"rna": counts}, {"rna": "negative_binomial"})
    with pytest.raises(DataError, match="subject 's1' of view 'rna'"):
        data.fit_preprocessing()


def test_preprocessing_reapplied_to_new_subjects():
    rad = frame(np.exp(RNG.normal(size=(40, 3))), "r")
    data = rgf.MultiViewData.from_pandas({"radiomics": rad}, {"radiomics": "gaussian"},
                                         transforms={"radiomics": "yeo-johnson"})
    prep = data.fit_preprocessing()
    train = data.to_arrays(prep).view("radiomics")
    new = rgf.MultiViewData.from_pandas({"radiomics": rad.iloc[:5]}, {"radiomics": "gaussian"},
                                        transforms={"radiomics": "yeo-johnson"})
    again = new.to_arrays(prep).view("radiomics")
    np.testing.assert_allclose(again.y, train.y[:5])  # the training transform, not one refitted on 5 subjects
    np.testing.assert_allclose(train.y.mean(0), 0.0, atol=1e-8)
    np.testing.assert_allclose(train.y.std(0), 1.0, atol=1e-8)


def test_new_subject_size_factors_use_training_reference():
    counts = frame(RNG.poisson(50, size=(30, 6)) + 1, "g")
    data = rgf.MultiViewData.from_pandas({"rna": counts}, {"rna": "negative_binomial"})
    prep = data.fit_preprocessing()
    doubled = rgf.MultiViewData.from_pandas({"rna": counts.iloc[:3] * 2}, {"rna": "negative_binomial"})
    off_train = data.to_arrays(prep).view("rna").log_offset[:3]
    off_new = doubled.to_arrays(prep).view("rna").log_offset
    np.testing.assert_allclose(off_new - off_train, np.log(2.0), atol=1e-10)


def test_row_nanmedian_equals_numpy():
    from rgfactor.data.preprocess import _row_nanmedian

    rng = np.random.default_rng(3)
    for shape in [(60, 9), (40, 10), (20, 1)]:   # odd and even numbers of values, all-missing rows
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.4] = np.nan
        x[2] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(x, axis=1)
        np.testing.assert_array_equal(_row_nanmedian(x), expected)


@pytest.mark.parametrize("method", ["trimmed_ratio", "poscounts", "median_of_ratios"])
def test_size_factors_in_blocks_of_subjects_equal_one_block(method, monkeypatch):
    """The size factors are computed over blocks of subjects (small temporaries): the blocks' reference
    sums and per-subject factors equal those of the whole view at once (all-missing subjects, missing
    entries, a subject count that is not a multiple of the block), for fitting and for new subjects."""
    from rgfactor.data import preprocess

    rng = np.random.default_rng(7)
    y = rng.negative_binomial(4, 4 / (4 + 6.0), size=(47, 30)).astype(float)
    y[:, :4] += 1.0                       # features positive in every subject (median of ratios' reference)
    y[rng.random(y.shape) < 0.1] = np.nan
    y[5] = np.nan
    whole = size_factors(y, method=method)
    new = size_factors(y[:9] * 2.0, whole[1], method, whole[2])
    monkeypatch.setattr(preprocess, "ROW_BLOCK", 8)
    blocked = size_factors(y, method=method)
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-12)
    np.testing.assert_allclose(blocked[1], whole[1], rtol=1e-12)   # NaN where a feature is not in the reference
    np.testing.assert_allclose(size_factors(y[:9] * 2.0, whole[1], method, whole[2])[0], new[0], rtol=1e-12)
    assert blocked[0][5] == 1.0 and np.ptp(np.log(blocked[0])) > 0.1


@pytest.mark.parametrize("method", ["trimmed_ratio", "poscounts", "median_of_ratios"])
def test_fit_arrays_equals_fitting_then_applying(method):
    """fit_arrays reuses the training size factors instead of computing them again: same arrays."""
    counts = frame(RNG.poisson(6, size=(30, 7)).astype(float), "g").assign(g6=3.0)   # g6 constant: dropped
    counts.iat[4, 2] = np.nan
    data = rgf.MultiViewData.from_pandas({"rna": counts, "radiomics": frame(RNG.normal(size=(30, 4)), "r")},
                                         {"rna": "negative_binomial", "radiomics": "gaussian"}, size_factors=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        prep, arrays = data.fit_arrays()
        expected = data.to_arrays(data.fit_preprocessing())
    assert json.dumps(prep.to_dict()) == json.dumps(data.fit_preprocessing().to_dict())   # NaN: feature not in the reference
    for got, want in zip(arrays.views, expected.views):
        assert got.features == want.features
        np.testing.assert_array_equal(got.log_offset, want.log_offset)
        np.testing.assert_array_equal(got.y, want.y)
        np.testing.assert_array_equal(got.mask, want.mask)
    assert np.ptp(arrays.view("rna").log_offset) > 0.05   # size factors that differ between subjects


def test_unseen_site_gets_code_minus_one():
    site = pd.Series(list("ABABABAB"), index=COUNTS.index)
    data = rgf.MultiViewData.from_pandas(views(), LIKS, site=site)
    prep = data.fit_preprocessing()
    new = rgf.MultiViewData.from_pandas(views(), LIKS, site=pd.Series(list("ACACACAC"), index=COUNTS.index))
    codes = new.to_arrays(prep).site
    assert list(codes[:2]) == [0, -1]


def test_categorical_covariates_are_one_hot_and_standardised():
    cov = pd.DataFrame({"age": np.arange(8.0), "sex": list("MFMFMFMF")}, index=COUNTS.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = rgf.MultiViewData.from_pandas(views(), LIKS, covariates=cov).to_arrays()
    assert arrays.covariate_names == ("age", "sex_M")
    np.testing.assert_allclose(arrays.covariates.mean(0), 0.0, atol=1e-12)


def test_fingerprint_identifies_the_data():
    data = rgf.MultiViewData.from_pandas(views(), LIKS)
    same = rgf.MultiViewData.from_pandas({k: v.copy() for k, v in views().items()}, LIKS)
    changed = rgf.MultiViewData.from_pandas(views(radiomics=with_value(RAD, 0, 0, 9.0)), LIKS)
    renamed = rgf.MultiViewData.from_pandas(views(radiomics=RAD.rename(columns={"r0": "x0"})), LIKS)
    assert len(data.fingerprint()) == 64 and data.fingerprint() == same.fingerprint()
    assert len({data.fingerprint(), changed.fingerprint(), renamed.fingerprint()}) == 3


def test_select_views_keeps_subjects_and_order():
    data = rgf.MultiViewData.from_pandas(views(), LIKS)
    sub = data.select_views(["mutations", "rna"])
    assert sub.view_names == ("mutations", "rna") and sub.likelihoods == {"mutations": "bernoulli",
                                                                         "rna": "negative_binomial"}
    assert list(sub.subjects) == list(data.subjects) and data.view_names == ("rna", "radiomics", "mutations")
    with pytest.raises(DataError, match="unknown view"):
        data.select_views(["imaging"])

