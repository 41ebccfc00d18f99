"""Bad input, damaged files and doubtful settings: each case gives a named rgfactor error or warning
whose message names the culprit (docs/input_checks.md lists the checks)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.errors import (ConvergenceWarning, DataError, DataWarning, FitFileError, NotFittedError, RGFactorError,
                             SpecError)

from conftest import frame

RNG = np.random.default_rng(7)
N = 12
IDX = [f"s{i}" for i in range(N)]


def rad(n=N, d=4, index=None):
    return pd.DataFrame(RNG.normal(size=(n, d)), index=index or IDX[:n], columns=[f"r{j}" for j in range(d)])


def counts(n=N, d=5):
    return pd.DataFrame(RNG.poisson(20, size=(n, d)).astype(float), index=IDX[:n], columns=[f"g{j}" for j in range(d)])


def muts(n=N, d=3):
    return pd.DataFrame((RNG.random((n, d)) < 0.4).astype(float), index=IDX[:n], columns=[f"m{j}" for j in range(d)])


def build(views=None, liks=None, **kw):
    views = views if views is not None else {"rad": rad(), "rna": counts()}
    liks = liks if liks is not None else {"rad": "gaussian", "rna": "negative_binomial"}
    return rgf.MultiViewData.from_pandas(views, liks, **kw)


def with_value(df, i, j, value):
    out = df.copy()
    if isinstance(value, str):
        out[out.columns[j]] = out[out.columns[j]].astype(object)
    out.iloc[i, j] = value
    return out


SITE = pd.Series(["A", "B"] * (N // 2), index=IDX)


# ------------------------------------------------------------------------------ data: errors
DATA_ERRORS = [  # (id, builder, expected message)
    ("view-not-a-frame", lambda: build({"rad": np.zeros((3, 3))}, {"rad": "gaussian"}), "must be a pandas DataFrame"),
    ("empty-view", lambda: build({"rad": rad().iloc[:0]}, {"rad": "gaussian"}), "is empty"),
    ("duplicate-subject", lambda: build({"rad": rad(index=["a", "a"] + IDX[2:])}, {"rad": "gaussian"}),
     "'a' more than once"),
    ("int-and-str-zero", lambda: build({"rad": rad(n=2, index=[0, "0"])}, {"rad": "gaussian"}), "'0' more than once"),
    ("nan-subject-id", lambda: build({"rad": rad(index=[np.nan] + IDX[1:])}, {"rad": "gaussian"}), "missing \\(NaN\\)"),
    ("duplicate-feature", lambda: build({"rad": rad().set_axis(["a", "a", "b", "c"], axis=1)}, {"rad": "gaussian"}),
     "duplicated feature names, e.g. 'a'"),
    ("non-numeric-feature", lambda: build({"rad": with_value(rad(), 0, 1, "x")}, {"rad": "gaussian"}),
     "non-numeric feature 'r1'"),
    ("infinite", lambda: build({"rad": with_value(rad(), 2, 0, np.inf)}, {"rad": "gaussian"}),
     "infinite value: subject 's2', feature 'r0'"),
    ("negative-count", lambda: build({"rna": with_value(counts(), 1, 2, -3.0)}, {"rna": "negative_binomial"}),
     "negative counts, e.g. subject 's1', feature 'g2'"),
    ("fractional-count", lambda: build({"rna": with_value(counts(), 0, 0, 2.5)}, {"rna": "poisson"}),
     "non-integer values, e.g. subject 's0', feature 'g0'"),
    ("bernoulli-2", lambda: build({"mut": with_value(muts(), 3, 1, 2.0)}, {"mut": "bernoulli"}),
     "other than 0/1: subject 's3', feature 'm1'"),
    ("unknown-likelihood", lambda: build({"rad": rad()}, {"rad": "gamma"}), "unknown likelihood 'gamma'"),
    ("view-without-likelihood", lambda: build({"rad": rad(), "rna": counts()}, {"rad": "gaussian"}),
     "view 'rna' has no likelihood"),
    ("likelihood-for-unknown-view", lambda: build({"rad": rad()}, {"rad": "gaussian", "x": "gaussian"}),
     "unknown view 'x'"),
    ("no-shared-subject", lambda: build({"rad": rad(), "rna": counts().set_axis([f"t{i}" for i in range(N)])}),
     "no subject is shared"),
    ("ids-0-vs-0.0", lambda: build({"rad": rad(index=list(range(N))),
                                    "rna": counts().set_axis([f"{i}.0" for i in range(N)])}),
     "match once written alike"),
    ("ids-dash-vs-underscore", lambda: build({"rad": rad(index=[f"TCGA-CS-{i}" for i in range(N)]),
                                              "rna": counts().set_axis([f"TCGA_CS_{i}" for i in range(N)])}),
     "match once written alike"),
    ("site-missing-subject", lambda: build(site=SITE.iloc[:-1]), "site is missing for 1 subject\\(s\\), e.g. 's11'"),
    ("site-nan", lambda: build(site=SITE.where(SITE.index != "s4")), "site is NaN for 1 subject\\(s\\), e.g. 's4'"),
    ("site-duplicate-id", lambda: build(site=pd.Series(["A"] * N, index=["s0"] * 2 + IDX[2:])), "more than once"),
    ("covariates-missing-subject", lambda: build(covariates=pd.DataFrame({"age": np.arange(N - 1.0)}, index=IDX[:-1])),
     "covariates is missing for 1 subject"),
    ("covariate-nan", lambda: build(covariates=pd.DataFrame({"age": [np.nan] + list(range(N - 1))}, index=IDX)),
     "covariates is NaN for 1 subject\\(s\\), e.g. 's0'"),
    ("id-like-covariate", lambda: build(covariates=pd.DataFrame({"patient": [f"P{i}" for i in range(N)]}, index=IDX)),
     "covariate 'patient' is text with 12 distinct values for 12 subjects: an identifier"),
    ("transform-unknown-view", lambda: build(transforms={"x": "standardize"}), "transform given for unknown view 'x'"),
    ("subset-unknown-subject", lambda: build().subset(["s0", "nobody"]), "unknown subject\\(s\\) \\['nobody'\\]"),
    ("subset-twice", lambda: build().subset(["s0", "s0"]), "listed twice, e.g. 's0'"),
]

PREPROCESSING_ERRORS = [
    ("unknown-transform", lambda: build(transforms={"rad": "log"}), "view 'rad': unknown transform 'log'"),
    ("transform-on-counts", lambda: build(transforms={"rna": "yeo-johnson"}), "applies to views of real values"),
    ("unknown-size-factors", lambda: build(size_factors="tmm"), "view 'rna': unknown size_factors 'tmm'"),
    ("all-features-constant", lambda: build({"rad": rad() * 0.0}, {"rad": "gaussian"}), "no non-constant feature"),
    ("size-factor-impossible", lambda: build({"rna": with_value(counts(), 1, slice(None), 0.0)},
                                             {"rna": "negative_binomial"}),
     "size factor for subject 's1' of view 'rna'"),
]


@pytest.mark.parametrize("case", DATA_ERRORS, ids=[c[0] for c in DATA_ERRORS])
def test_data_errors(case):
    _, make, message = case
    with pytest.raises(DataError, match=message):
        make()


@pytest.mark.parametrize("case", PREPROCESSING_ERRORS, ids=[c[0] for c in PREPROCESSING_ERRORS])
def test_preprocessing_errors(case):
    _, make, message = case
    with pytest.raises(DataError, match=message):
        make().fit_preprocessing()


COLLINEAR = pd.DataFrame({"a": np.arange(N, dtype=float), "b": 2 * np.arange(N, dtype=float) + 1}, index=IDX)
NEARLY = COLLINEAR.assign(b=COLLINEAR["b"] + 1e-9 * RNG.normal(size=N))
DATA_WARNINGS = [
    ("constant-covariate", lambda: build(covariates=pd.DataFrame({"sex": ["f"] * N}, index=IDX)),
     "covariate 'sex' is constant"),
    ("collinear-covariates", lambda: build(covariates=COLLINEAR), "\\['a', 'b'\\] are perfectly collinear"),
    ("nearly-collinear", lambda: build(covariates=NEARLY), "nearly collinear \\(condition number"),
    ("covariate-is-site", lambda: build(site=SITE, covariates=pd.DataFrame({"scanner": (SITE == "A") * 1.0})),
     "covariate 'scanner' is fully confounded with the site"),
    ("constant-feature", lambda: build({"rad": rad().assign(r1=1.0)}, {"rad": "gaussian"}).fit_preprocessing(),
     "view 'rad': dropping 1 constant or all-missing feature\\(s\\), e.g. \\['r1'\\]"),
]


@pytest.mark.parametrize("case", DATA_WARNINGS, ids=[c[0] for c in DATA_WARNINGS])
def test_data_warnings(case):
    _, make, message = case
    with pytest.warns(DataWarning, match=message):
        make()


def test_inputs_are_not_modified():
    views, site = {"rad": rad(), "rna": counts()}, SITE.copy()
    before = {k: v.copy() for k, v in views.items()}
    cov = pd.DataFrame({"age": np.arange(N, dtype=float), "sex": ["f", "f", "m"] * (N // 3)}, index=IDX)
    cov_before = cov.copy()
    data = build(views, site=site, covariates=cov)
    data.fit_preprocessing()
    for k in views:
        pd.testing.assert_frame_equal(views[k], before[k])
    pd.testing.assert_frame_equal(cov, cov_before)
    pd.testing.assert_series_equal(site, SITE)


# ------------------------------------------------------------------------------ settings
SMALL = build({"rad": rad(n=8, d=6), "mut": muts(n=8, d=5)}, {"rad": "gaussian", "mut": "bernoulli"})
SETTINGS_ERRORS = [  # (id, estimator, data, exception, message)
    ("n-factors-float", rgf.GFA(2.5), SMALL, SpecError, "n_factors must be a whole number >= 1, got 2.5"),
    ("n-factors-zero", rgf.GFA(0), SMALL, SpecError, "n_factors must be >= 1, got 0"),
    ("n-factors-text", rgf.GFA("3"), SMALL, SpecError, "n_factors must be a whole number"),
    ("more-factors-than-subjects", rgf.GFA(8), SMALL, SpecError, "8 factors for 8 subjects"),
    ("factors-exceed-features", rgf.GFA(6), SMALL, SpecError, "no view has more features than that"),
    ("site-effects-without-site", rgf.GFA(2, site_effects=True), SMALL, SpecError, "the data have no site"),
    ("site-effects-not-bool", rgf.GFA(2, site_effects="yes"), SMALL, SpecError, "site_effects must be False .* or 'location_scale', got 'yes'"),
    ("unknown-method", rgf.GFA(2, method="gibbs"), SMALL, SpecError, "unknown method 'gibbs'"),
    ("unknown-sparsity", rgf.GFA(2, sparsity="lasso"), SMALL, SpecError, "unknown sparsity 'lasso'"),
    ("spike-and-slab-svi", rgf.GFA(2, sparsity="spike_and_slab", method="svi"), SMALL, SpecError,
     "sparsity='spike_and_slab' is not available with method='svi'; use method='cavi'"),
    ("horseshoe-cavi", rgf.GFA(2, sparsity="horseshoe", method="cavi"), SMALL, SpecError,
     "sparsity='horseshoe' is not available with method='cavi'; use method='svi' or 'nuts'"),
    ("pcca-no-shared", rgf.PCCA(0, 1), SMALL, SpecError, "n_shared must be >= 1"),
    ("pcca-negative-specific", rgf.PCCA(1, -1), SMALL, SpecError, "n_specific must be >= 0"),
    ("ppls-no-response", rgf.PPLS(1), SMALL, SpecError, "PPLS needs response="),
    ("ppls-unknown-response", rgf.PPLS(1, response="outcome"), SMALL, SpecError, "\\['outcome'\\] are not views"),
    ("ppls-all-response", rgf.PPLS(1, response=["rad", "mut"]), SMALL, SpecError, "at least one predictor view"),
    ("batch-size-with-svi", rgf.GFA(2, method="svi", batch_size=4), SMALL, SpecError,
     "batch_size and devices apply to the closed-form engine"),
    ("too-many-devices", rgf.GFA(2, method="cavi", devices=99), SMALL, SpecError, "devices=99, but this process sees"),
    ("batch-size-with-devices", rgf.GFA(2, batch_size=4, devices=1), SMALL, SpecError,
     "batch_size and devices do not combine"),
    ("not-multiview-data", rgf.GFA(2), np.zeros((3, 3)), DataError, "fit expects a MultiViewData"),
]


@pytest.mark.parametrize("case", SETTINGS_ERRORS, ids=[c[0] for c in SETTINGS_ERRORS])
def test_settings_errors(case):
    _, est, data, exc, message = case
    with pytest.raises(exc, match=message):
        est.fit(data)
    assert not hasattr(est, "idata_")   # a failed fit leaves the estimator unfitted


def test_single_level_site_warns_and_fits_without_site_effects():
    data = build({"rad": rad(n=8, d=6)}, {"rad": "gaussian"}, site=pd.Series(["A"] * 8, index=IDX[:8]))
    with pytest.warns(DataWarning, match="site has a single level \\('A'\\)"):
        m = rgf.GFA(2, site_effects=True, max_iter=5, num_draws=5).fit(data)
    assert not any(v.startswith("site_effect") for v in m.idata_.posterior.data_vars)
    assert any("single level" in w for w in m.diagnostics_["warnings"])


def test_unconverged_fit_warns_and_records_it():
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        m = rgf.GFA(2, max_iter=3, num_draws=5).fit(SMALL)
    assert any("max_iter=3" in w for w in m.diagnostics_["warnings"])


# ------------------------------------------------------------------------------ new subjects
def new_data_cases(data):
    rna, radv = data.views["rna"], data.views["radiomics"]
    liks = dict(data.likelihoods)
    covered = rgf.MultiViewData.from_pandas({"radiomics": radv.iloc[:5]}, {"radiomics": "gaussian"})
    renamed = radv.iloc[:5].set_axis([f"x{j}" for j in range(radv.shape[1])], axis=1)
    half = radv.iloc[:5, : radv.shape[1] // 3]
    return [  # (id, call, exception or warning, message)
        ("unknown-view-predict", lambda m: m.predict(covered, view="protein"), DataError, "unknown view 'protein'"),
        ("view-not-fitted", lambda m: m.transform(rgf.MultiViewData.from_pandas({"protein": frame(RNG.normal(size=(5, 2)))},
                                                                                 {"protein": "gaussian"})),
         DataError, "view 'protein' was not part of the fitted model"),
        ("no-shared-feature", lambda m: m.transform(rgf.MultiViewData.from_pandas({"radiomics": renamed},
                                                                                   {"radiomics": "gaussian"})),
         DataError, "view 'radiomics' of the new data shares no feature"),
        ("not-multiview", lambda m: m.transform(radv), DataError, "expected a MultiViewData"),
        ("half-the-features", lambda m: m.transform(rgf.MultiViewData.from_pandas({"radiomics": half},
                                                                                   {"radiomics": "gaussian"})),
         DataWarning, "has 6 of the 20 fitted features"),
        ("unseen-site", lambda m: m.transform(rgf.MultiViewData.from_pandas(
            {"rna": rna.dropna().iloc[:4]}, {"rna": liks["rna"]},
            site=pd.Series(["site9"] * 4, index=rna.dropna().index[:4]))),
         DataWarning, "site\\(s\\) \\['site9'\\] were not in the fit"),
    ]


def test_new_subject_checks(fitted_small, small_cohort):
    data, _ = small_cohort
    for name, call, kind, message in new_data_cases(data):
        if issubclass(kind, Warning):
            with pytest.warns(kind, match=message):
                call(fitted_small)
        else:
            with pytest.raises(kind, match=message):
                call(fitted_small)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        rgf.GFA(2).transform(data)


# ------------------------------------------------------------------------------ files
@pytest.fixture(scope="module")
def saved(fitted_small, tmp_path_factory):
    path = tmp_path_factory.mktemp("fits") / "fit"
    fitted_small.save(path)
    return path


def _copy(saved, tmp_path):
    out = tmp_path / "fit"
    shutil.copytree(saved, out)
    return out


def _edit_json(key, value):
    def edit(path):
        meta = json.loads((path / "model.json").read_text())
        if value is KeyError:
            meta.pop(key)
        elif key.startswith("config."):
            meta["config"][key.split(".", 1)[1]] = value
        else:
            meta[key] = value
        (path / "model.json").write_text(json.dumps(meta))
    return edit


def _write(name, content):
    def edit(path):
        (path / name).write_bytes(content(path / name) if callable(content) else content)
    return edit


FILE_CASES = [  # (id, damage, message)
    ("model-json-missing", lambda p: (p / "model.json").unlink(), "model.json missing"),
    ("model-json-truncated", _write("model.json", lambda f: f.read_bytes()[: len(f.read_bytes()) // 2]),
     "model.json is damaged \\(not valid JSON"),
    ("model-json-empty", _write("model.json", b""), "model.json is damaged"),
    ("model-json-binary", _write("model.json", bytes(range(256)) * 4), "model.json is (damaged|not a text file)"),
    ("model-json-list", _write("model.json", b"[1, 2]"), "does not hold a JSON object"),
    ("missing-preprocessing", _edit_json("preprocessing", KeyError), "lacks \\['preprocessing'\\]"),
    ("unknown-key", _edit_json("extra", 1), "unknown key\\(s\\) \\['extra'\\]"),
    ("unknown-config-key", _edit_json("config.n_layers", 2), "config has unknown key\\(s\\) \\['n_layers'\\]"),
    ("newer-format", _edit_json("format_version", 99), "format 99 by a newer rgfactor.*upgrade rgfactor"),
    ("older-format", _edit_json("format_version", 0), "format 0 is older than"),
    ("unknown-class", _edit_json("class", "LDA"), "unknown model class 'LDA'"),
    ("wrong-type", _edit_json("params", [1]), "wrong types: \\['params \\(list"),
    ("bad-params", _edit_json("params", {"n_factors": 3, "n_layers": 2}), "params do not fit GFA"),
    ("posterior-missing", lambda p: (p / "posterior.nc").unlink(), "posterior.nc is missing"),
    ("posterior-truncated", _write("posterior.nc", lambda f: f.read_bytes()[:2000]), "posterior.nc is damaged"),
    ("posterior-empty", _write("posterior.nc", b""), "posterior.nc is damaged"),
    ("posterior-garbage", _write("posterior.nc", b"\x89HDF\r\n\x1a\n" + bytes(500)), "posterior.nc is damaged"),
    ("posterior-from-other-fit", _edit_json("config.n_factors", 2), "2 in model.json: the two files come from "
                                                                     "different fits|where model.json says 2"),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_damaged_fit_files(case, saved, tmp_path):
    _, damage, message = case
    path = _copy(saved, tmp_path)
    damage(path)
    with pytest.raises(FitFileError, match=message):
        rgf.load(path)


def test_load_paths(tmp_path):
    with pytest.raises(FitFileError, match="the path does not exist"):
        rgf.load(tmp_path / "nothing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FitFileError, match="is a file; rgf.load expects the directory"):
        rgf.load(tmp_path / "file.txt")
    with pytest.raises(FitFileError, match="model.json missing"):
        rgf.load(tmp_path)


def test_saving_never_destroys_what_it_did_not_write(fitted_small, saved, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("my notes")
    (target / "cohort.csv").write_text("a,b")
    with pytest.raises(FitFileError, match="not an rgfactor output.*cohort.csv.*notes.txt"):
        fitted_small.save(target)
    assert (target / "notes.txt").read_text() == "my notes" and sorted(p.name for p in target.iterdir()) == [
        "cohort.csv", "notes.txt"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FitFileError, match="is a file, not a directory"):
        fitted_small.save(tmp_path / "a_file")
    # an earlier fit is replaced in one step; one with a file added by the user is not
    earlier = _copy(saved, tmp_path)
    fitted_small.save(earlier)
    assert rgf.load(earlier).config_ == fitted_small.config_
    (earlier / "notes.txt").write_text("added later")
    with pytest.raises(FitFileError, match="did not write: \\['notes.txt'\\]"):
        fitted_small.save(earlier)
    assert (earlier / "notes.txt").exists() and (earlier / "posterior.nc").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary left behind


def test_saved_fit_follows_the_umask(fitted_small, tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        fitted_small.save(tmp_path / "fit")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fit").stat().st_mode) == 0o750


# ------------------------------------------------------------------------------ spec and command line
SPEC = """name = "t"
[data]
source = "simulate"
[data.options]
n_subjects = 30
n_factors = 2
[model]
structure = "GFA"
n_factors = 2
"""
SPEC_CASES = [  # (id, spec text, message)
    ("invalid-toml", "name = [", "is not valid TOML"),
    ("unknown-table", SPEC + "[extra]\na = 1\n", "unknown table\\(s\\)/key\\(s\\) \\['extra'\\]"),
    ("unknown-model-key", SPEC + "layers = 3\n", "unknown key\\(s\\) \\['layers'\\] in \\[model\\]"),
    ("unknown-structure", SPEC.replace('"GFA"', '"LDA"'), "unknown structure 'LDA'"),
    ("no-source", SPEC.replace('source = "simulate"\n', ""), "needs a 'source'"),
    ("unknown-source", SPEC.replace('"simulate"', '"tcga_brca"'), "unknown data source 'tcga_brca'"),
    ("option-typo", SPEC.replace("n_subjects = 30", "n_subject = 30"), "has no option\\(s\\) \\['n_subject'\\]"),
    ("structure-key-mismatch", SPEC + "n_shared = 2\n",
     "key\\(s\\) \\['n_shared'\\] in \\[model\\] do not apply to structure 'GFA'"),
    ("unknown-quick-key", SPEC + "[quick]\nlayers = 1\n", "unknown key 'layers' in \\[quick\\]"),
    ("submodel-table-of-another-structure", SPEC + "[mediation]\nexposure = 'x'\noutcome = 'y'\n",
     "a \\[mediation\\] table belongs to structure 'Mediation', not 'GFA'"),
    ("svc-without-response", SPEC.replace('structure = "GFA"\nn_factors = 2', 'structure = "SVC"')
     + "[svc]\ncoordinates = ['depth']\n", "\\[svc\\] needs `response`"),
    ("svc-on-multiview-data", SPEC.replace('structure = "GFA"\nn_factors = 2', 'structure = "SVC"')
     + "[svc]\nresponse = 'y'\ncoordinates = ['depth']\n", "needs a data source that returns a unit table"),
]


@pytest.mark.parametrize("case", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_cli_spec_errors(case, tmp_path, capsys):
    from rgfactor.cli import main

    _, text, message = case
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    code = main(["fit", str(spec), "--quick", "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_cli_missing_spec_and_foreign_output(tmp_path, capsys):
    from rgfactor.cli import main

    assert main(["fit", str(tmp_path / "none.toml"), "--no-progress"]) == 2
    assert "not found" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    assert main(["fit", str(spec), "--out", str(out), "--no-progress"]) == 2
    assert "keep.txt" in capsys.readouterr().err and (out / "keep.txt").exists()


def test_every_error_is_a_value_error():
    for cls in (DataError, SpecError, FitFileError, NotFittedError):
        assert issubclass(cls, RGFactorError) and issubclass(cls, ValueError)
    assert issubclass(DataWarning, UserWarning) and issubclass(ConvergenceWarning, UserWarning)


def test_case_count():
    """The issue asks for at least 60 distinct bad inputs across data, settings, files and the CLI."""
    n = (len(DATA_ERRORS) + len(PREPROCESSING_ERRORS) + len(DATA_WARNINGS) + len(SETTINGS_ERRORS) + 6
         + len(FILE_CASES) + 3 + 4 + len(SPEC_CASES) + 2 + 2)
    assert n >= 60, n
