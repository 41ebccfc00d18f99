"""The ``tables`` data source (a user's own CSV/TSV/Parquet files) against the built-in LGG reader.

The files are written from the shared cohort ``../shared/data/tcga_lgg_radiogenomics`` in several
formats and orientations; reading them through a spec must give the cohort the hand-written loader
gives (same raw values, likelihoods, transforms, site), and every bad input an error naming the
view or clinical table, the file and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rgfactor.data.loaders import LGG_MUTATIONS, RADIOMIC_META, lgg_radiogenomics
from rgfactor.data.tables import from_tables
from rgfactor.errors import DataError, SpecError
from rgfactor.sources import load_source, spec_source
from rgfactor.spec import ModelSpec

LGG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga_lgg_radiogenomics"
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not LGG.exists(), reason="shared cohort ../shared/data not present")]


def age_years(text: pd.Series) -> pd.Series:
    """'67 years 107 days' -> 67.29."""
    parts = text.str.extract(r"(\d+) years(?: (\d+) days)?").astype(float).fillna(0.0)
    return parts[0] + parts[1] / 365.25


@pytest.fixture(scope="module")
def lgg_files(tmp_path_factory):
    """The LGG cohort as a user would hold it: radiomics CSV (the shared file itself), mutations as a
    genes x patients Parquet file, a clinical TSV with site, age and labels."""
    out = tmp_path_factory.mktemp("cohort")
    muts = pd.read_csv(LGG / "lgg_mutations_20genes_joined.csv").set_index("Patient")
    muts[list(LGG_MUTATIONS)].dropna(how="all").T.rename_axis("gene").to_parquet(out / "mutations.parquet")
    clin = pd.DataFrame({"Patient": muts.index, "site_tss": muts["site_tss"].to_numpy(),
                         "age": age_years(muts["Age_at_diagnosis"]).to_numpy(),
                         "IDH1": muts["IDH1"].to_numpy(), "diagnosis": muts["Primary_Diagnosis"].to_numpy()})
    clin.to_csv(out / "clinical.tsv", sep="\t", index=False)
    return out


def views_entry(radiomics_file):
    return {"radiomics": {"file": str(radiomics_file), "likelihood": "gaussian", "transform": "yeo-johnson",
                          "index": "Patient", "drop": list(RADIOMIC_META)},
            "mutations": {"file": "mutations.parquet", "likelihood": "bernoulli", "orientation": "features_as_rows"}}


def test_tables_match_the_builtin_reader(lgg_files):
    ref, _ = lgg_radiogenomics(LGG)
    data, labels = from_tables(lgg_files, views=views_entry(LGG / "radiomics_flair_pyradiomics.csv"),
                               clinical={"file": "clinical.tsv", "index": "Patient", "site": "site_tss",
                                         "covariates": ["age"], "labels": ["IDH1", "diagnosis"]})
    assert list(data.subjects) == list(ref.subjects)
    assert data.likelihoods == ref.likelihoods and data.transforms == ref.transforms
    for name, df in ref.views.items():
        pd.testing.assert_frame_equal(data.views[name], df, check_names=False)
    pd.testing.assert_series_equal(data.site, ref.site)
    assert list(data.covariates.columns) == ["age"]
    assert list(labels.columns) == ["IDH1", "diagnosis"] and list(labels.index) == list(data.subjects)
    # subjects without mutation calls keep a missing view (not zeros)
    assert data.views["mutations"].isna().all(axis=1).sum() == ref.views["mutations"].isna().all(axis=1).sum() > 0


def test_spec_reads_files_relative_to_its_folder(lgg_files):
    """A spec beside the files (no root): files resolve against the spec's folder, CSV in both
    orientations and TSV alike; labels default to the clinical columns not used as site/covariates."""
    rad = pd.read_csv(LGG / "radiomics_flair_pyradiomics.csv").set_index("Patient").drop(columns=list(RADIOMIC_META))
    rad = rad[[c for c in rad.columns if c.startswith("original_shape")]]
    rad.T.to_csv(lgg_files / "radiomics_t.csv.gz")            # features x subjects, compressed
    spec_path = lgg_files / "spec.toml"
    spec = ModelSpec.from_dict({
        "name": "own", "model": {"n_factors": 2},
        "data": {"source": "tables",
                 "views": {"radiomics": {"file": "radiomics_t.csv.gz", "likelihood": "gaussian",
                                         "orientation": "features_as_rows"}},
                 "clinical": {"file": "clinical.tsv", "site": "site_tss"}}})
    source, options, folder = spec_source(spec, spec_path, Path("/nonexistent"))
    assert folder == lgg_files.resolve()
    data, labels = load_source(source, options, folder)
    assert data.view_names == ("radiomics",) and data.views["radiomics"].shape == rad.shape
    np.testing.assert_allclose(data.views["radiomics"].loc[rad.index].to_numpy(), rad.to_numpy())
    assert data.transforms["radiomics"] == "standardize" and data.site.nunique() == rad.join(
        pd.read_csv(lgg_files / "clinical.tsv", sep="\t").set_index("Patient"))["site_tss"].nunique()
    assert list(labels.columns) == ["age", "IDH1", "diagnosis"]


def test_table_options_need_the_tables_source():
    spec = ModelSpec.from_dict({"name": "x", "model": {}, "data": {"source": "simulate", "views": {}}})
    with pytest.raises(SpecError, match="tables"):
        spec_source(spec, Path("x.toml"), Path("."))


@pytest.mark.parametrize("change, match", [
    (lambda v, c: v["radiomics"].update(file="nope.csv"), r"view 'radiomics'.*nope\.csv.*not found"),
    (lambda v, c: v["radiomics"].update(file="clinical.xlsx"), r"view .radiomics.: file .*unknown table format '\.xlsx'"),
    (lambda v, c: v["radiomics"].update(drop=[]), r"view 'radiomics'.*columns \['case_dir'\].*not numeric"),
    (lambda v, c: v["radiomics"].update(index="patient"), r"view 'radiomics'.*no column 'patient'"),
    (lambda v, c: v["mutations"].update(orientation="rows"), r"view 'mutations': orientation must be"),
    (lambda v, c: v["mutations"].pop("likelihood"), r"view 'mutations': `likelihood` is missing"),
    (lambda v, c: v["mutations"].update(likelihood="gaussian", transfrom="none"), r"unknown key\(s\) \['transfrom'\]"),
    (lambda v, c: c.update(site="hospital"), r"clinical table: `site` names column\(s\) \['hospital'\].*clinical"),
    (lambda v, c: c.update(labels=["grade"]), r"clinical table: `labels` names column\(s\) \['grade'\]"),
])
def test_errors_name_the_file_view_and_column(lgg_files, change, match):
    views = views_entry(LGG / "radiomics_flair_pyradiomics.csv")
    clinical = {"file": "clinical.tsv", "index": "Patient", "site": "site_tss"}
    change(views, clinical)
    with pytest.raises(DataError, match=match):
        from_tables(lgg_files, views=views, clinical=clinical)


def test_subjects_without_a_clinical_row_are_named(lgg_files):
    clin = pd.read_csv(lgg_files / "clinical.tsv", sep="\t").iloc[5:]
    clin.to_csv(lgg_files / "clinical_short.csv", index=False)
    with pytest.raises(DataError, match=r"clinical table: subject\(s\) \['TCGA_"):
        from_tables(lgg_files, views=views_entry(LGG / "radiomics_flair_pyradiomics.csv"),
                    clinical={"file": "clinical_short.csv", "site": "site_tss"})
