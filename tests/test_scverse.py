"""MuData/AnnData in and out: files written from the shared LGG cohort read back as the built-in
reader's cohort; a fit written back into a MuData at the fixed keys (ARCHITECTURE.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rgfactor as rgf
from rgfactor.data.loaders import lgg_radiogenomics
from rgfactor.errors import DataError

ad = pytest.importorskip("anndata")
md = pytest.importorskip("mudata")
LGG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga_lgg_radiogenomics"
# mudata's FutureWarning about its future obs/var update behaviour is not ours
pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::FutureWarning:mudata")]


def adata_of(df: pd.DataFrame, **obs):
    return ad.AnnData(X=df.to_numpy(dtype=float), obs=pd.DataFrame(obs, index=[str(i) for i in df.index]),
                      var=pd.DataFrame(index=[str(c) for c in df.columns]))


@pytest.fixture(scope="module")
def lgg_h5mu(tmp_path_factory):
    """LGG as a .h5mu: modalities radiomics (110 patients) and mutations (106), site and age in obs."""
    if not LGG.exists():
        pytest.skip("shared cohort ../shared/data not present")
    ref, _ = lgg_radiogenomics(LGG, radiomic_features="original")
    raw = pd.read_csv(LGG / "lgg_mutations_20genes_joined.csv").set_index("Patient")
    rad = ref.views["radiomics"]
    muts = ref.views["mutations"].dropna(how="all")
    mdata = md.MuData({"radiomics": adata_of(rad), "mutations": adata_of(muts)})
    mdata.obs["site"] = raw["site_tss"].reindex(mdata.obs_names).to_numpy()
    age = raw["Age_at_diagnosis"].str.extract(r"(\d+) years")[0].astype(float)
    mdata.obs["age"] = age.fillna(age.mean()).reindex(mdata.obs_names).to_numpy()
    path = tmp_path_factory.mktemp("scverse") / "lgg.h5mu"
    mdata.write(path)
    return path, ref


def test_from_mudata_reads_the_cohort(lgg_h5mu):
    path, ref = lgg_h5mu
    data = rgf.MultiViewData.from_mudata(path, {"radiomics": "gaussian", "mutations": "bernoulli"},
                                         site="site", covariates=["age"], transforms={"radiomics": "yeo-johnson"})
    assert set(data.subjects) == set(ref.subjects) and data.n_subjects == 110
    for name, df in ref.views.items():
        pd.testing.assert_frame_equal(data.views[name].loc[ref.subjects], df, check_names=False)
    pd.testing.assert_series_equal(data.site.loc[ref.subjects], ref.site, check_names=False)
    assert data.transforms == ref.transforms and list(data.covariates.columns) == ["age"]
    assert data.views["mutations"].isna().all(axis=1).sum() == 4   # 4 patients lack mutation calls


def test_from_anndata_one_view_and_view_key(lgg_h5mu, tmp_path):
    path, ref = lgg_h5mu
    rad = ref.views["radiomics"]
    adata_of(rad, site=ref.site.to_numpy()).write_h5ad(tmp_path / "rad.h5ad")
    one = rgf.MultiViewData.from_anndata(tmp_path / "rad.h5ad", {"radiomics": "gaussian"}, site="site")
    pd.testing.assert_frame_equal(one.views["radiomics"], rad, check_names=False)
    assert one.site.nunique() == ref.site.nunique()
    both = pd.concat([rad, ref.views["mutations"]], axis=1)
    joint = adata_of(both)
    joint.var["kind"] = ["radiomics"] * rad.shape[1] + ["mutations"] * ref.views["mutations"].shape[1]
    data = rgf.MultiViewData.from_anndata(joint, {"radiomics": "gaussian", "mutations": "bernoulli"}, view_key="kind")
    for name, df in ref.views.items():
        pd.testing.assert_frame_equal(data.views[name], df, check_names=False)


@pytest.mark.parametrize("call, match", [
    (lambda m: rgf.MultiViewData.from_mudata(m, {"rna": "gaussian"}), r"no modality \['rna'\]"),
    (lambda m: rgf.MultiViewData.from_mudata(m, {"radiomics": "gaussian"}, site="hospital"),
     r"MuData.obs has no column\(s\) \['hospital'\]"),
    (lambda m: rgf.MultiViewData.from_mudata(m, {"radiomics": "gaussian"}, layers={"radiomics": "counts"}),
     r"modality 'radiomics' has no layer 'counts'"),
    (lambda m: rgf.MultiViewData.from_anndata(m.mod["radiomics"], {"a": "gaussian", "b": "gaussian"}),
     r"without view_key is one view"),
    (lambda m: rgf.MultiViewData.from_anndata(m.mod["radiomics"], {"a": "gaussian"}, view_key="kind"),
     r"AnnData.var has no column 'kind'"),
])
def test_errors_name_the_modality_and_column(lgg_h5mu, call, match):
    with pytest.raises(DataError, match=match):
        call(md.read_h5mu(lgg_h5mu[0]))


def test_to_mudata_writes_factors_and_loadings(fitted_small, small_cohort, tmp_path):
    data, _ = small_cohort
    model = fitted_small
    mods = {v: adata_of(df.dropna(how="all")) for v, df in data.views.items()}
    extra = adata_of(pd.DataFrame(np.zeros((1, 3)), index=["stranger"], columns=["a", "b", "c"]))
    mdata = md.MuData({**mods, "other": extra})
    out = model.to_mudata(mdata)
    assert out is mdata
    mdata.write(tmp_path / "fit.h5mu")
    back = md.read_h5mu(tmp_path / "fit.h5mu")
    z = pd.DataFrame(back.obsm["X_rgfactor"], index=back.obs_names)
    np.testing.assert_allclose(z.loc[list(data.subjects)].to_numpy(), model.factors_.values)
    assert np.isnan(z.loc["stranger"]).all()
    for view, w in model.loadings_.items():
        got = pd.DataFrame(back.mod[view].varm["W_rgfactor"], index=back.mod[view].var_names)
        np.testing.assert_allclose(got.loc[[str(f) for f in w[w.dims[0]].values]].to_numpy(), w.values)
    assert list(back.uns["rgfactor"]["factors"]) == [str(f) for f in model.factors_["factor"].values]
    np.testing.assert_allclose(back.uns["rgfactor"]["variance_explained"]["rna"],
                               model.variance_explained().sel(view="rna").values)
    with pytest.raises(DataError, match=r"view 'rna' of the fit is not a modality"):
        model.to_mudata(md.MuData({"radiomics": mods["radiomics"]}))
