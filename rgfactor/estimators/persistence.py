"""Loading saved fits (the writer is :meth:`FactorModel.save`; files: :mod:`rgfactor.posterior.io`)."""

from __future__ import annotations

from rgfactor.estimators.structures import GFA, PCCA, PPLS

ESTIMATORS = {"GFA": GFA, "PCCA": PCCA, "PPLS": PPLS}


def load(path):
    """Load a fit written by ``model.save(path)``; returns the fitted estimator (GFA, PCCA or PPLS).

    Raises
    ------
    FitFileError  if ``path`` holds no fit, a damaged or foreign one, or one of another format
        (:func:`rgfactor.posterior.io.read_fit`).
    """
    from pathlib import Path

    from rgfactor.errors import FitFileError
    from rgfactor.posterior.io import read_fit, restore

    meta, idata = read_fit(path, known_classes=set(ESTIMATORS))
    cls = ESTIMATORS[meta["class"]]
    try:
        model = cls(**meta["params"])
    except TypeError as e:
        raise FitFileError(f"cannot load the fit in '{Path(path)}': model.json's params do not fit {cls.__name__} "
                           f"({e}); re-run the fit with this rgfactor.") from None
    return restore(model, meta, idata)
