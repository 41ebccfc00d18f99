"""The TCGA-LGG MRI shells cohort as multi-region views (``../shared/data/lgg_mri_shells``).

Mohammed et al. 2021 (arXiv 2106.10941): 63 patients, each tumour cut into three equal-volume
concentric shells (``Region.1`` core to ``Region.3`` rim), MRI principal-component scores per shell
and the expression of 24 driver genes per patient. :func:`lgg_mri_shell_views` gives a region-level
``imaging`` view, a subject-level ``expression`` view and the shell ``depth`` coordinate, for
multi-region factors (:mod:`rgfactor.generative.region_factors`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rgfactor.data.multiview import MultiViewData
from rgfactor.data.units import lgg_mri_shells
from rgfactor.dims import REGION, SUBJECT


def align_shell_scores(scores: pd.DataFrame, min_corr: float = 0.5) -> tuple[pd.DataFrame, list[str]]:
    """Per-shell PC scores made comparable across shells, and what was done.

    The PCs were computed per shell, so a PC's sign is arbitrary per shell and a PC of one shell need
    not be the same component in another. Each column of shell r + 1 is sign-aligned to shell r
    (already aligned) by the sign of their correlation across patients (adjacent shells correlate
    most), and a column whose adjacent-shell |correlations| are not all >= ``min_corr`` is dropped.

    Parameters
    ----------
    scores : (subject, region) rows, one column per PC present in every shell (no NaN).
    min_corr : the smallest adjacent-shell |correlation| of a kept column.

    Returns
    -------
    (aligned scores of the kept columns, one note per flip or drop).
    """
    shells = list(pd.unique(scores.index.get_level_values(1)))
    out, notes, keep = scores.copy(), [], []
    for c in scores.columns:
        wide = scores[c].unstack(1)[shells]
        corrs = []
        for a, b in zip(shells[:-1], shells[1:]):
            r = float(np.corrcoef(wide[a], wide[b])[0, 1])
            if r < 0:
                wide[b] = -wide[b]
                notes.append(f"{c}: {b} sign flipped (correlation with {a} {r:.2f})")
            corrs.append(abs(r))
        if min(corrs) >= min_corr:
            keep.append(c)
            out[c] = wide.stack().reindex(scores.index).to_numpy()
        else:
            notes.append(f"{c}: dropped (adjacent-shell |correlation| {min(corrs):.2f} < {min_corr})")
    return out[keep], notes


def lgg_mri_shell_views(path, *, min_corr: float = 0.5) -> tuple[MultiViewData, pd.DataFrame]:
    """Multi-region views of the LGG shells: ``imaging`` (region level, rows (patient, shell)), the PC
    columns present in all three shell files (17: flair.1-4, t1.1-3, t1Gd.1-4, t2.1-6), sign-aligned
    and filtered by :func:`align_shell_scores`; ``expression`` (subject level, 24 genes, centred log
    scale); coordinates ``depth`` (1, 2, 3: the shell's rank from the core).

    Returns
    -------
    (MultiViewData, labels): labels are the patients' IDH1 expression (a subject-level column for the
    report's associations); ``data.attrs``-free: the alignment notes are in ``labels.attrs['notes']``.

    Raises
    ------
    DataError  for a missing file (:func:`rgfactor.data.units.lgg_mri_shells`).
    """
    table, _ = lgg_mri_shells(path)
    table = table.rename_axis([SUBJECT, REGION])
    genes = [c for c in table.columns if "." not in c and c != "depth"]
    pcs = [c for c in table.columns if "." in c and table[c].notna().all()]
    imaging, notes = align_shell_scores(table[pcs], min_corr)
    expression = table[genes].groupby(level=SUBJECT).first()
    data = MultiViewData.from_pandas({"imaging": imaging, "expression": expression},
                                     {"imaging": "gaussian", "expression": "gaussian"}, coordinates=table[["depth"]])
    labels = expression[["IDH1"]].rename(columns={"IDH1": "IDH1_expression"}).reindex(data.subjects)
    labels.attrs["notes"] = notes
    return data, labels
