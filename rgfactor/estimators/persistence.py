"""Loading saved fits (the writer is :meth:`FactorModel.save`; files: :mod:`rgfactor.posterior.io`)."""

from __future__ import annotations

from rgfactor.estimators.structures import GFA, PCCA, PPLS

ESTIMATORS = {"GFA": GFA, "PCCA": PCCA, "PPLS": PPLS}


def load(path):
    """Load a fit written by ``model.save(path)``; returns the fitted estimator (GFA, PCCA or PPLS).

    Raises
    ------
    RGFactorError  if ``path`` holds no fit or a fit of an unknown class.
    """
    from pathlib import Path

    from rgfactor.errors import RGFactorError
    from rgfactor.posterior.io import read_fit, restore

    meta, idata = read_fit(path)
    cls = ESTIMATORS.get(meta.get("class"))
    if cls is None:
        raise RGFactorError(f"'{Path(path)}' holds an unknown model class '{meta.get('class')}'.")
    return restore(cls(**meta["params"]), meta, idata)
