"""Specs (TOML <-> dataclass) and the command line, end to end."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rgfactor.cli import main
from rgfactor.errors import SpecError
from rgfactor.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data"


def test_spec_toml_round_trip():
    spec = ModelSpec.from_toml(ROOT / "models" / "lgg_radiogenomics.toml")
    again = ModelSpec.from_dict(__import__("tomllib").loads(spec.to_toml()))
    assert again == spec
    quick = spec.with_quick()
    assert quick.model["n_factors"] == 5 and quick.data["options"]["radiomic_features"] == "original"
    assert spec.model["n_factors"] == 10  # with_quick does not modify the spec


@pytest.mark.parametrize("raw,msg", [
    ({"data": {"source": "simulate"}, "model": {"structure": "ICA"}}, "unknown structure 'ICA'"),
    ({"data": {"source": "simulate"}, "model": {"n_factor": 3}}, r"unknown key\(s\) \['n_factor'\] in \[model\]"),
    ({"data": {"source": "simulate"}, "model": {}, "inference": {"steps": 3}}, r"unknown key\(s\) \['steps'\]"),
    ({"model": {}}, r"has no \[data\] table"),
])
def test_bad_spec_is_a_spec_error(raw, msg):
    with pytest.raises(SpecError, match=msg):
        ModelSpec.from_dict(raw)


def test_every_model_zoo_spec_parses():
    from rgfactor.sources import sources

    paths = sorted((ROOT / "models").glob("*.toml"))
    assert len(paths) >= 3
    for path in paths:
        spec = ModelSpec.from_toml(path)
        assert spec.name == path.stem and spec.data["source"] in sources()
        assert spec.with_quick().quick == {}
        assert spec.description and spec.quick, f"{path.name}: needs a description and a [quick] table (CI)"
        if spec.structure in ("Mediation", "SVC"):   # the submodels name their columns in their own table
            assert spec.submodel, f"{path.name}: structure {spec.structure} without its table"


def test_cli_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    assert main(["fit", "--quick", "--out", str(out), "--no-progress"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"spec.toml", "posterior.nc", "diagnostics.json", "report.html", "figures", "tables"} <= names
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["method"] == "cavi" and len(diag["elbo"]) == diag["n_steps"]  # the default engine
    spec_text = (out / "spec.toml").read_text()
    assert "[run" in spec_text and "jax" in spec_text and "seed" in spec_text
    assert 'method = "cavi"' in spec_text and re.search(r'data_sha256 = "[0-9a-f]{64}"', spec_text)
    html = (out / "report.html").read_text()
    assert "Variance explained" in html and "figures/variance_explained.png" in html
    assert (out / "tables" / "associations.csv").exists() and (out / "tables" / "variance_explained.tex").exists()
    import rgfactor as rgf

    model = rgf.load(out)  # a run directory is a saved fit
    assert model.factors_.sizes["subject"] == 200
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary directory left


def test_cli_failed_run_leaves_no_directory(tmp_path, capsys):
    out = tmp_path / "lgg"
    code = main(["fit", str(ROOT / "models" / "lgg_radiogenomics.toml"), "--quick", "--out", str(out),
                 "--data-root", str(tmp_path / "nowhere"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not found" in err and "RGFACTOR_DATA_ROOT" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_console_script_is_installed():
    res = subprocess.run([sys.executable, "-m", "rgfactor.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "fit" in res.stdout


@pytest.mark.slow
@pytest.mark.skipif(not DATA_ROOT.exists(), reason="../shared/data not present")
@pytest.mark.parametrize("name,labels", [("lgg_radiogenomics", {"COCCluster", "IDH1", "RNASeqCluster"}),
                                         ("tcga_glioma_counts", {"tumour_type", "IDH"})])
def test_real_data_specs_run_end_to_end(tmp_path, name, labels):
    out = tmp_path / name
    assert main(["fit", str(ROOT / "models" / f"{name}.toml"), "--quick", "--out", str(out), "--no-progress"]) == 0
    import pandas as pd

    assoc = pd.read_csv(out / "tables" / "associations.csv")
    assert labels <= set(assoc["label"]) and assoc["p_adj"].between(0, 1).all()
    ve = pd.read_csv(out / "tables" / "variance_explained.csv", index_col=0)
    assert ve.drop(columns="total").to_numpy().max() <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(not DATA_ROOT.exists(), reason="../shared/data not present")
def test_glioma_leading_factor_separates_lgg_from_gbm_and_idh(tmp_path):
    """Published finding (TCGA, NEJM 2015; Cell 2016): the leading count factor splits LGG/GBM and IDH status."""
    out = tmp_path / "glioma"
    assert main(["fit", str(ROOT / "models" / "tcga_glioma_counts.toml"), "--quick", "--out", str(out),
                 "--no-progress"]) == 0
    import pandas as pd

    assoc = pd.read_csv(out / "tables" / "associations.csv").set_index(["factor", "label"])
    # |rank-biserial| > 0.8: nearly complete separation of 20 vs 20 tumours on Factor1
    assert abs(assoc.loc[("Factor1", "tumour_type"), "effect"]) > 0.8
    assert assoc.loc[("Factor1", "tumour_type"), "p_adj"] < 1e-3
    assert abs(assoc.loc[("Factor1", "IDH"), "effect"]) > 0.8
