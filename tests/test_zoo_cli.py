"""The submodels through specs and the command line: ``structure = "Mediation"`` with ``[mediation]``,
``structure = "SVC"`` with ``[svc]`` (unit tables), their run directories and report sections.

The fits are tiny (plumbing, not statistics: the statistics are tested in test_mediation.py and
test_svc.py); each new structure is fitted once through ``rgfactor fit`` (module fixtures).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rgfactor.cli import main
from rgfactor.errors import DataError, SpecError
from rgfactor.spec import ModelSpec

pytestmark = pytest.mark.timeout(180)

MEDIATION_SPEC = """name = "med"
seed = 0
[data]
source = "tables"
[data.views.imaging]
file = "imaging.csv"
likelihood = "gaussian"
[data.views.omics]
file = "omics.csv"
likelihood = "gaussian"
[data.clinical]
file = "clinical.csv"
[model]
structure = "Mediation"
n_factors = 2
[mediation]
exposure = "exposure"
outcome = "y"
outcome_likelihood = "gaussian"
confounders = ["age"]
[inference]
method = "cavi"
num_draws = 100
"""

SVC_SPEC = """name = "svc"
seed = 0
[data]
source = "unit_table"
[data.options]
file = "regions.csv"
index = ["patient", "region"]
[model]
structure = "SVC"
[svc]
response = "score"
covariates = ["gene"]
coordinates = ["depth"]
groups = "patient"
n_basis = 4
[inference]
num_warmup = 60
num_draws = 60
num_chains = 1
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "spec.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def mediation_files(tmp_path_factory):
    from rgfactor import simulate

    folder = tmp_path_factory.mktemp("med")
    data, clinical, _ = simulate.mediation_factors(80, random_state=1)
    for name, df in data.views.items():
        df.rename_axis("subject").to_csv(folder / f"{name}.csv")
    clinical = clinical.assign(age=np.random.default_rng(2).normal(60.0, 10.0, len(clinical)))
    clinical.rename_axis("subject").to_csv(folder / "clinical.csv")
    return folder


@pytest.fixture(scope="module")
def svc_files(tmp_path_factory):
    """40 patients x 3 shells: the gene's coefficient rises from core (0) to rim (1)."""
    folder = tmp_path_factory.mktemp("svc")
    rng = np.random.default_rng(3)
    n = 20
    gene = rng.standard_normal(n)
    patient_effect = rng.normal(0.0, 0.5, n)
    rows = []
    for depth in (1.0, 2.0, 3.0):
        slope = (depth - 1.0) / 2.0
        score = patient_effect + slope * gene + rng.normal(0.0, 0.3, n)
        rows += [{"patient": f"P{i}", "region": f"R{int(depth)}", "depth": depth, "gene": gene[i],
                  "score": score[i]} for i in range(n)]
    pd.DataFrame(rows).to_csv(folder / "regions.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def mediation_run(mediation_files):
    out = mediation_files / "run"
    assert main(["fit", str(_write(mediation_files, MEDIATION_SPEC)), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def svc_run(svc_files):
    out = svc_files / "run"
    assert main(["fit", str(_write(svc_files, SVC_SPEC)), "--out", str(out), "--no-progress"]) == 0
    return out


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize("text,message", [
    (MEDIATION_SPEC.replace('"Mediation"', '"GFA"'), r"a \[mediation\] table belongs to structure 'Mediation'"),
    (MEDIATION_SPEC.replace('exposure = "exposure"\n', ""), r"\[mediation\] needs `exposure`"),
    (MEDIATION_SPEC.replace('outcome = "y"\n', ""), r"\[mediation\] needs `outcome or time`"),
    (MEDIATION_SPEC + "[mediation.extra]\n", r"unknown key\(s\) \['extra'\] in \[mediation\]"),
    (MEDIATION_SPEC.replace("n_factors = 2", "n_factors = 2\nview_weights = true"),
     r"\['view_weights'\] in \[model\] do not apply to structure 'Mediation'"),
    (SVC_SPEC.replace('response = "score"\n', ""), r"\[svc\] needs `response`"),
    (SVC_SPEC.replace("[model]", "[model]\nn_factors = 2\n#"), r"\['n_factors'\] in \[model\] do not apply to structure 'SVC'"),
    (SVC_SPEC + "[quick]\nlayers = 2\n", r"unknown key 'layers' in \[quick\]"),
])
def test_bad_submodel_specs_are_spec_errors(tmp_path, text, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_toml(_write(tmp_path, text)).with_quick()


def test_quick_overrides_the_submodel_table(tmp_path):
    spec = ModelSpec.from_toml(_write(tmp_path, SVC_SPEC + "[quick]\nn_basis = 3\nnum_draws = 50\n"))
    quick = spec.with_quick()
    assert quick.svc["n_basis"] == 3 and quick.inference["num_draws"] == 50 and spec.svc["n_basis"] == 4
    again = ModelSpec.from_dict(__import__("tomllib").loads(spec.to_toml()), default_name="svc")
    assert again == spec   # the [svc] table survives the round trip through spec.toml


@pytest.mark.parametrize("case,edit,message", [
    ("exposure-column", ('exposure = "exposure"', 'exposure = "IDH9"'),
     r"\[mediation\] `exposure` names column\(s\) \['IDH9'\], not among the data source's labels"),
    ("confounder-column", ('confounders = ["age"]', 'confounders = ["age", "site"]'),
     r"`confounders` names column\(s\) \['site'\]"),
    ("survival-needs-time", ('outcome_likelihood = "gaussian"', 'outcome_likelihood = "survival"'),
     r"survival outcome needs `time` and `event`"),
    ("unknown-outcome-likelihood", ('outcome_likelihood = "gaussian"', 'outcome_likelihood = "poisson"'),
     "unknown outcome 'poisson'"),
])
def test_cli_mediation_errors_name_the_key(mediation_files, tmp_path, capsys, case, edit, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(MEDIATION_SPEC.replace(*edit))
    for name in ("imaging.csv", "omics.csv", "clinical.csv"):
        (tmp_path / name).write_bytes((mediation_files / name).read_bytes())
    code = main(["fit", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and re.search(message, err), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case,edit,message", [
    ("response-column", ('response = "score"', 'response = "flair.1"'),
     r"\[svc\] `response` names 'flair.1', which is neither a column nor an index level"),
    ("groups-level", ('groups = "patient"', 'groups = "subject"'), r"\[svc\] `groups` names 'subject'"),
    ("not-a-unit-table", ('source = "unit_table"', 'source = "simulate"\n[data.options_]'),
     "needs a data source that returns a unit table"),
    ("index-columns", ('index = ["patient", "region"]', 'index = ["patient", "shell"]'),
     r"no column\(s\) \['shell'\]"),
])
def test_cli_svc_errors_name_the_key(svc_files, tmp_path, capsys, case, edit, message):
    text = SVC_SPEC.replace(*edit)
    if case == "not-a-unit-table":
        text = text.replace('[data.options_]\n[data.options]\nfile = "regions.csv"\nindex = ["patient", "region"]\n',
                            "[data.options]\nn_subjects = 30\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    (tmp_path / "regions.csv").write_bytes((svc_files / "regions.csv").read_bytes())
    code = main(["fit", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and re.search(message, err), err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- runs
@pytest.mark.slow
def test_mediation_run_directory_and_report(mediation_run):
    names = {p.name for p in mediation_run.iterdir()}
    assert {"spec.toml", "posterior.nc", "effects.nc", "model.json", "diagnostics.json", "report.html"} <= names
    spec_text = (mediation_run / "spec.toml").read_text()
    assert "[mediation]" in spec_text and 'structure = "Mediation"' in spec_text
    assert re.search(r'data_sha256 = "[0-9a-f]{64}"', spec_text) and 'method = "cavi"' in spec_text
    diag = json.loads((mediation_run / "diagnostics.json").read_text())
    assert diag["method"] == "cavi" and diag["n_subjects"] == 80
    html = (mediation_run / "report.html").read_text()
    assert "Mediation effects" in html and "figures/mediation_forest.png" in html
    table = pd.read_csv(mediation_run / "tables" / "mediation_effects.csv", index_col=0)
    assert {"NIE", "NDE", "TE"} <= set(table.index)
    # TE = NIE + NDE holds draw by draw, hence for the posterior means
    assert table.loc["TE", "mean"] == pytest.approx(table.loc["NIE", "mean"] + table.loc["NDE", "mean"], abs=1e-6)
    assert (mediation_run / "tables" / "mediation_effects.tex").exists()


@pytest.mark.slow
@pytest.mark.timeout(400)   # one NUTS fit: ~40 s on a quiet machine, mostly JAX compilation
def test_svc_run_directory_and_report(svc_run):
    import rgfactor as rgf

    names = {p.name for p in svc_run.iterdir()}
    assert {"spec.toml", "posterior.nc", "model.json", "diagnostics.json", "report.html"} <= names
    html = (svc_run / "report.html").read_text()
    assert "Spatially varying coefficients" in html and "figures/svc_surfaces.png" in html
    assert "Variance explained" not in html and "Data overview" not in html   # no factor/subject sections
    variation = pd.read_csv(svc_run / "tables" / "svc_spatial_variation.csv", index_col=0)
    assert list(variation.index) == ["intercept", "gene"] and variation["p_constant"].between(0, 1).all()
    surfaces = pd.read_csv(svc_run / "tables" / "svc_surfaces.csv")
    assert len(surfaces) == 6   # 3 depths x 2 terms
    assert "\\begin{tabular}" in (svc_run / "tables" / "svc_spatial_variation.tex").read_text()
    fit = rgf.SVC.load(svc_run)   # a run directory is a saved fit
    assert fit.coefficients_.sizes["unit"] == 60
    gene = surfaces[surfaces["term"] == "gene"].set_index("depth")["mean"]
    assert gene[3.0] > gene[1.0]   # the coefficient rises from 0 at the core to 1 at the rim (sd 0.3 noise, n 20)


def _surfaces(coords: dict, terms=("intercept", "x")) -> pd.DataFrame:
    parts = []
    for j, term in enumerate(terms):
        part = pd.DataFrame(coords)
        part["term"] = term
        part["mean"] = np.sin(part.iloc[:, 0] + j)
        part["lower"], part["upper"] = part["mean"] - 0.5, part["mean"] + 0.5
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("coords,expected", [
    ({"depth": np.repeat([1.0, 2.0, 3.0], 4)}, "Coefficient curves with bands"),
    ({"u": np.tile(np.arange(5.0), 5), "v": np.repeat(np.arange(5.0), 5)}, "Coefficient maps"),
])
def test_svc_section_figures_for_1d_and_2d(tmp_path, coords, expected):
    from rgfactor.report import write_report
    from rgfactor.spec_structures import no_factors

    surfaces = _surfaces(coords)
    variation = pd.DataFrame({"p_constant": [0.9, 0.1]}, index=pd.Index(["intercept", "x"], name="term"))
    ve, z = no_factors([])
    page = write_report(tmp_path, title="t", variance_explained=ve, factors=z, diagnostics={},
                        submodels={"svc": {"surfaces": surfaces, "coordinates": list(coords),
                                           "spatial_variation": variation, "response": "y"}}).read_text()
    assert expected in page
    assert (tmp_path / "figures" / "svc_surfaces.png").stat().st_size > 0
    assert (tmp_path / "figures" / "svc_surfaces.pdf").exists()
    shown = pd.read_csv(tmp_path / "tables" / "svc_surfaces.csv")
    n_locations = len(pd.DataFrame(coords).drop_duplicates())
    assert len(shown) == 2 * n_locations   # one row per location and term


def test_unit_table_source_errors(tmp_path):
    from rgfactor.data.units import svc_inputs, unit_table

    pd.DataFrame({"p": ["a", "a"], "r": [1, 1], "y": [0.0, 1.0]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"unit 'a/1' more than once"):
        unit_table(tmp_path, file="t.csv", index=["p", "r"])
    with pytest.raises(DataError, match="not found"):
        unit_table(tmp_path, file="none.csv")
    table = pd.DataFrame({"y": [1.0]}, index=pd.Index(["u"], name="unit"))
    with pytest.raises(DataError, match="one column name"):
        svc_inputs(table, response=["y", "z"], coordinates=["unit"])


def test_mediation_data_hash_covers_the_label_columns(mediation_files):
    """A run's data_sha256 changes with the exposure/outcome/confounder columns, not with other labels."""
    from rgfactor.sources import load_source, spec_source
    from rgfactor.spec_structures import structure_of

    path = _write(mediation_files, MEDIATION_SPEC)
    spec = ModelSpec.from_toml(path)
    data, labels = load_source(*spec_source(spec, path, mediation_files))
    fingerprint = structure_of(spec).fingerprint
    base = fingerprint(data, labels, spec)
    changed = labels.copy()
    changed.iloc[0, changed.columns.get_loc("age")] += 1.0
    assert fingerprint(data, changed, spec) != base
    assert fingerprint(data, labels.assign(other=1.0), spec) == base
