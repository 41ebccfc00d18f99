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


# ----------------------------------------------------------------------------- coordinates (factor_prior="gp")
def _spatial_adata(n=6, seed=0):
    rng = np.random.default_rng(seed)
    counts = pd.DataFrame(rng.poisson(5.0, (n, 3)), index=[f"cell{i}" for i in range(n)], columns=["g1", "g2", "g3"])
    adata = adata_of(counts, x=rng.random(n), y=rng.random(n), time=np.arange(n, dtype=float))
    adata.obsm["spatial"] = rng.random((n, 2)) * 100.0                   # squidpy's convention
    adata.obsm["pos3"] = pd.DataFrame(rng.random((n, 3)), index=adata.obs_names, columns=["u", "v", "w"])
    adata.obsm["X_pca"] = rng.normal(size=(n, 5))
    return adata


def test_anndata_coordinates_from_obsm_or_obs():
    adata = _spatial_adata()
    before = adata.obsm["spatial"].copy()
    data = rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}, coordinates="spatial")
    assert list(data.coordinates.columns) == ["spatial1", "spatial2"]          # scanpy's axis names
    np.testing.assert_array_equal(data.coordinates.loc[list(adata.obs_names)].to_numpy(), before)
    np.testing.assert_array_equal(adata.obsm["spatial"], before)               # nothing passed is modified
    xy = rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}, coordinates=["x", "y"]).coordinates
    np.testing.assert_array_equal(xy.loc[list(adata.obs_names)].to_numpy(), adata.obs[["x", "y"]].to_numpy())
    t = rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}, coordinates="time").coordinates   # 1-D obs column
    assert list(t.columns) == ["time"] and t.loc["cell3", "time"] == 3.0
    uvw = rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}, coordinates="pos3").coordinates
    assert list(uvw.columns) == ["u", "v", "w"]                                # a DataFrame keeps its names
    assert rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}).coordinates is None


@pytest.mark.parametrize("edit, key, match", [
    (lambda a: a, "spatial_xy", r"no obsm\['spatial_xy'\] and no obs column.*obsm keys: \['spatial'"),
    (lambda a: a, ["x", "depth"], r"no obs column\(s\) \['depth'\]"),
    (lambda a: a, "X_pca", r"AnnData.obsm\['X_pca'\] has 5 columns"),
    (lambda a: a.obsm.__setitem__("spatial", np.where(np.arange(12).reshape(6, 2) == 5, np.nan, a.obsm["spatial"])),
     "spatial", r"subject 'cell2', coordinate 'spatial2' is nan"),
])
def test_anndata_coordinate_errors_name_the_key(edit, key, match):
    adata = _spatial_adata()
    edit(adata)
    with pytest.raises(DataError, match=match):
        rgf.MultiViewData.from_anndata(adata, {"rna": "poisson"}, coordinates=key)


def test_mudata_coordinates_global_or_of_a_modality():
    rna = _spatial_adata()
    prot = _spatial_adata(seed=1)[:4].copy()
    prot.var_names = ["p1", "p2", "p3"]
    other = adata_of(pd.DataFrame(np.ones((2, 1)), index=["extra0", "extra1"], columns=["m"]))
    mdata = md.MuData({"rna": rna, "prot": prot, "other": other})
    mdata.obsm["spatial"] = np.c_[np.arange(mdata.n_obs), np.arange(mdata.n_obs) ** 2].astype(float)
    # global obsm: the observations of a modality that is not a view are left out, not an error
    data = rgf.MultiViewData.from_mudata(mdata, {"rna": "poisson", "prot": "poisson"}, coordinates="spatial")
    assert len(data.coordinates) == 6 and "extra0" not in data.coordinates.index
    row = list(mdata.obs_names).index("cell4")
    assert data.coordinates.loc["cell4", "spatial2"] == float(row) ** 2
    own = rgf.MultiViewData.from_mudata(mdata, {"rna": "poisson"}, coordinates="rna:spatial").coordinates
    np.testing.assert_array_equal(own.loc[list(rna.obs_names)].to_numpy(), rna.obsm["spatial"])
    with pytest.raises(DataError, match="missing for 2 subject"):     # prot's own positions lack cell4, cell5
        rgf.MultiViewData.from_mudata(mdata, {"rna": "poisson", "prot": "poisson"}, coordinates="prot:spatial")
    with pytest.raises(DataError, match="coordinates='atac:spatial': the MuData has no modality 'atac'"):
        rgf.MultiViewData.from_mudata(mdata, {"rna": "poisson"}, coordinates="atac:spatial")
    with pytest.raises(DataError, match=r"modality 'rna'.*no obsm\['xy'\]"):
        rgf.MultiViewData.from_mudata(mdata, {"rna": "poisson"}, coordinates="rna:xy")
