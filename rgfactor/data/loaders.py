"""Readers of the real cohorts used by the model zoo (``models/*.toml``).

Each returns ``(data, labels)``: a MultiViewData and a DataFrame of clinical/molecular labels
(index = subject IDs) for the report's association table. Paths point at a dataset folder of
``../shared/data`` (see its NOTES.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rgfactor.data.lgg_shells import lgg_mri_shell_views
from rgfactor.data.multiview import MultiViewData
from rgfactor.errors import DataError, DataWarning

RADIOMIC_META = ("case_dir", "n_slices", "n_tumor_slices", "tumor_voxels")
LGG_MUTATIONS = ("IDH1", "TP53", "ATRX", "PTEN", "EGFR", "CIC", "MUC16", "PIK3CA", "NF1", "PIK3R1", "FUBP1", "RB1",
                 "NOTCH1", "BCOR", "CSMD3", "SMARCA4", "GRIN2A", "IDH2", "FAT4", "PDGFRA")
# codes cross-checked against the mutation table (tcga_lgg_radiogenomics/NOTES.md)
COC_NAMES = {1: "IDHmut-non-codel", 2: "IDHwt-like", 3: "IDHmut-codel"}
HISTOLOGY_NAMES = {1: "astrocytoma", 2: "oligoastrocytoma", 3: "oligodendroglioma"}
GRADE_NAMES = {1: "G2", 2: "G3"}


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"data file '{path}' not found; set --data-root or RGFACTOR_DATA_ROOT to the folder "
                        "holding the datasets (../shared/data from the project root).")
    return path


def lgg_radiogenomics(path, *, radiomic_features: str = "all", transform: str = "yeo-johnson",
                      site: bool = True, mutations: bool = True) -> tuple[MultiViewData, pd.DataFrame]:
    """TCGA-LGG FLAIR radiomics (gaussian) + 20 mutation calls (bernoulli), site = TCGA tissue source site.

    Parameters
    ----------
    path : folder ``tcga_lgg_radiogenomics``.
    radiomic_features : 'all' (851 features) or 'original' (the 107 ``original_*`` features).
    transform : radiomics transform, 'yeo-johnson' (default; heavy-tailed texture and shape features,
        then standardised) or 'standardize'.
    site : pass ``site_tss`` as the site.
    mutations : include the mutation view (False: radiomics only, e.g. for IDH1 as a mediation exposure,
        which must not be a mediator feature).

    Returns
    -------
    data, labels with columns COCCluster, RNASeqCluster, IDH1, histology, grade, death, age (years at
    diagnosis) and site (TCGA tissue source site, text).
    """
    path = Path(path)
    rad = pd.read_csv(_need(path / "radiomics_flair_pyradiomics.csv")).set_index("Patient")
    rad = rad.drop(columns=[c for c in RADIOMIC_META if c in rad.columns])
    if radiomic_features == "original":
        rad = rad[[c for c in rad.columns if c.startswith("original_")]]
    elif radiomic_features != "all":
        raise DataError(f"radiomic_features must be 'all' or 'original', got '{radiomic_features}'.")
    mut_tab = pd.read_csv(_need(path / "lgg_mutations_20genes_joined.csv")).set_index("Patient")
    muts = mut_tab[list(LGG_MUTATIONS)].dropna(how="all")  # 4 patients without calls: view missing
    clus = pd.read_csv(_need(path / "lgg_genomic_clusters_data.csv")).set_index("Patient")
    views = {"radiomics": rad, "mutations": muts} if mutations else {"radiomics": rad}
    likelihoods = {"radiomics": "gaussian", "mutations": "bernoulli"}
    data = MultiViewData.from_pandas(views, likelihoods={v: likelihoods[v] for v in views},
                                     site=mut_tab["site_tss"] if site else None, transforms={"radiomics": transform})
    labels = pd.DataFrame(index=data.subjects)
    labels["COCCluster"] = clus["COCCluster"].map(COC_NAMES)
    labels["RNASeqCluster"] = clus["RNASeqCluster"].map(lambda v: np.nan if pd.isna(v) else f"R{int(v)}")
    labels["IDH1"] = mut_tab["IDH1"]
    labels["histology"] = clus["histological_type"].map(HISTOLOGY_NAMES)
    labels["grade"] = clus["neoplasm_histologic_grade"].map(GRADE_NAMES)
    labels["death"] = clus["death01"]
    labels["age"] = clus["age_at_initial_pathologic"]
    labels["site"] = mut_tab["site_tss"].astype(str).reindex(data.subjects)
    return data, labels


def tcga_glioma_counts(path, *, n_top_genes: int = 1000, min_mean_count: float = 10.0) -> tuple[MultiViewData, pd.DataFrame]:
    """RNA-seq counts of 20 LGG + 20 GBM tumours as one negative-binomial view ``rna``.

    RSEM expected counts are rounded to integers (about 9% of entries have a fractional part; a
    count likelihood needs integers). Genes are filtered to a mean count >= ``min_mean_count`` and
    the ``n_top_genes`` with the largest variance of log1p size-factor-normalised counts are kept.
    Subject IDs are patient barcodes (TCGA-XX-XXXX). Genes listed twice in the source (838, with
    identical counts) are kept once.

    Returns
    -------
    data, labels with columns tumour_type (LGG/GBM) and IDH (Mutant/WT).
    """
    from rgfactor.data.preprocess import size_factors

    path = Path(path)
    frames, labels = [], []
    for kind in ("lgg", "gbm"):
        counts = pd.read_csv(_need(path / f"tcga_{kind}_rsem_expected_counts_20samples.csv.gz")).set_index("gene")
        col = pd.read_csv(_need(path / f"tcga_{kind}_coldata_20samples.csv"))
        col = col.set_index("barcode")
        counts = counts[~counts.index.duplicated()].T  # 838 genes are listed twice with identical counts
        counts.index = [b[:12] for b in counts.index]
        frames.append(counts)
        labels.append(pd.DataFrame({"tumour_type": kind.upper(), "IDH": col["subtype_IDH.status"].to_numpy()},
                                   index=[b[:12] for b in col.index]))
    counts = pd.concat(frames).fillna(0.0)
    frac = float((np.abs(counts - counts.round()) > 0).to_numpy().mean())
    warnings.warn(f"rounding RSEM expected counts to integers ({frac:.1%} of entries had a fractional part)",
                  DataWarning, stacklevel=2)
    counts = counts.round()
    counts = counts.loc[:, counts.mean() >= min_mean_count]
    sf, _, _ = size_factors(counts.to_numpy())
    logn = np.log1p(counts.to_numpy() / sf[:, None])
    top = np.argsort(-logn.var(axis=0), kind="stable")[:n_top_genes]
    counts = counts.iloc[:, np.sort(top)].astype(int)
    data = MultiViewData.from_pandas({"rna": counts}, likelihoods={"rna": "negative_binomial"})
    return data, pd.concat(labels).reindex(data.subjects)


def breast_tcga(path, *, split: str = "train", response: bool = True) -> tuple[MultiViewData, pd.DataFrame]:
    """TCGA breast cancer (mixOmics ``breast.TCGA``): mRNA, miRNA, protein (gaussian, standardised)
    and the PAM50 subtype as a one-hot bernoulli view ``subtype`` (one feature per class).

    Parameters
    ----------
    path : folder ``breast_tcga``.
    split : 'train' (150 patients, all views), 'test' (70 patients: mrna and mirna only; no
        protein by design, and no subtype view so that it can only be predicted) or 'all'.
    response : include the ``subtype`` view (train patients only).

    Returns
    -------
    data, labels with columns subtype (LumA/Her2/Basal) and split.
    """
    path = Path(path)
    if split not in ("train", "test", "all"):
        raise DataError(f"split must be 'train', 'test' or 'all', got '{split}'.")
    parts = {"train": ["train"], "test": ["test"], "all": ["train", "test"]}[split]

    def read(kind, part):
        return pd.read_csv(_need(path / f"breast.TCGA_{part}_{kind}.csv"), index_col=0)

    views = {kind: pd.concat([read(kind, part) for part in parts]) for kind in ("mrna", "mirna")}
    subtype = pd.concat([read("subtype", part)["subtype"] for part in parts])
    split_of = pd.concat([pd.Series(part, index=read("subtype", part).index) for part in parts])
    if "train" in parts:
        views["protein"] = read("protein", "train")
        if response:
            train = read("subtype", "train")["subtype"]
            views["subtype"] = pd.get_dummies(train, dtype=float)[["Basal", "Her2", "LumA"]]
    lik = {k: "bernoulli" if k == "subtype" else "gaussian" for k in views}
    data = MultiViewData.from_pandas(views, lik)
    labels = pd.DataFrame({"subtype": subtype, "split": split_of}).reindex(data.subjects)
    return data, labels


def cll(path, *, drugs: str = "all", mutations: bool = True) -> tuple[MultiViewData, pd.DataFrame]:
    """CLL cohort of MOFA (Dietrich et al. 2018): ex-vivo drug response (gaussian, standardised) and
    mutations/copy-number events (bernoulli), 200 patients.

    Parameters
    ----------
    path : folder ``cll``.
    drugs : 'all' (62 drugs x 5 concentrations), 'c5' (concentration 5 only) or 'mean' (each drug's
        mean viability over its 5 concentrations: 62 features).
    mutations : include the mutation view (False: drug response only, e.g. for IGHV as a mediation
        exposure, which must not be a mediator feature).

    Returns
    -------
    data, labels with columns IGHV (1 = mutated), trisomy12, TTT (years to treatment, treated
    patients; NaN when censored), treated (treated during follow-up), TTT_or_censoring (years to
    treatment or censoring), Gender, age. Times of 0 (treated on the day of sampling) are set to one
    day (1 / 365.25 years): survival models need positive times.
    """
    path = Path(path)
    drug = pd.read_csv(_need(path / "cll_drugs.csv"), index_col=0).T
    muts = pd.read_csv(_need(path / "cll_mutations.csv"), index_col=0).T
    if drugs == "c5":
        drug = drug[[c for c in drug.columns if c.endswith("_5")]]
    elif drugs == "mean":
        drug = drug.T.groupby(lambda f: f.rsplit("_", 1)[0]).mean().T
    elif drugs != "all":
        raise DataError(f"drugs must be 'all', 'c5' or 'mean', got '{drugs}'.")
    drug = drug.dropna(how="all")  # 16 patients without drug data: view missing
    muts = muts.dropna(how="all")
    muts = muts.loc[:, muts.notna().sum() > 0]
    views = {"drugs": drug, "mutations": muts} if mutations else {"drugs": drug}
    likelihoods = {"drugs": "gaussian", "mutations": "bernoulli"}
    data = MultiViewData.from_pandas(views, likelihoods={v: likelihoods[v] for v in views})
    meta = pd.read_csv(_need(path / "metadata.txt"), sep="\t").set_index("sample")
    treated = meta["treatedAfter"].map({True: 1.0, False: 0.0, "TRUE": 1.0, "FALSE": 0.0})
    ttt = meta["TTT"].where(meta["TTT"] > 0, 1.0 / 365.25).where(meta["TTT"].notna())
    labels = pd.DataFrame({"IGHV": meta["IGHV"], "trisomy12": meta["trisomy12"],
                           "TTT": ttt.where(treated == 1), "treated": treated,
                           "TTT_or_censoring": ttt, "Gender": meta["Gender"], "age": meta["age"]})
    return data, labels.reindex(data.subjects)


LOADERS = {"lgg_radiogenomics": lgg_radiogenomics, "tcga_glioma_counts": tcga_glioma_counts,
           "breast_tcga": breast_tcga, "cll": cll, "lgg_mri_shell_views": lgg_mri_shell_views}
