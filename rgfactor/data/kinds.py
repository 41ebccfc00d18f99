"""What kind of values a likelihood observes, for the data layer's checks and preprocessing.

The data layer validates and preprocesses a view by the *kind* of its values, never by the
likelihood's name: ``'real'`` (any finite value; transforms and standardisation apply), ``'count'``
(non-negative integers; size factors), ``'binary'`` (0/1) or ``'survival'`` (a right-censored time to
event, stored as one signed value: +t for an event at time t, -t for censoring at t; the outcome of
:class:`rgfactor.mediation.Mediation`, never a view of a factor model). A likelihood registered with
:func:`rgfactor.generative.likelihoods.register` declares its kind there, which lands in this table.
"""

from __future__ import annotations

from rgfactor.errors import DataError

KINDS = ("real", "count", "binary", "survival")
DATA_KINDS: dict[str, str] = {"gaussian": "real", "negative_binomial": "count", "poisson": "count",
                              "bernoulli": "binary"}


def register_data_kind(likelihood: str, kind: str) -> None:
    """Declare the kind of values ``likelihood`` observes."""
    if kind not in KINDS:
        raise DataError(f"unknown data kind '{kind}' for likelihood '{likelihood}'; choose one of {KINDS}.")
    DATA_KINDS[likelihood] = kind


def data_kind(likelihood: str) -> str:
    """The kind of values of ``likelihood`` ('real', 'count', 'binary' or 'survival').

    Raises
    ------
    DataError  for a likelihood no one registered.
    """
    try:
        return DATA_KINDS[likelihood]
    except KeyError:
        raise DataError(f"unknown likelihood '{likelihood}'; choose one of {sorted(DATA_KINDS)}.") from None
