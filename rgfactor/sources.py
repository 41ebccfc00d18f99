"""Data sources a spec's ``[data] source`` can name: the real-cohort readers and the simulator.

A front-door module (the data layer cannot import the simulator, which uses the model): the command
line and the benchmarks resolve ``source`` here.
"""

from __future__ import annotations

from pathlib import Path

from rgfactor.errors import SpecError


def sources() -> dict:
    """name -> reader returning (MultiViewData, labels DataFrame)."""
    from rgfactor import simulate
    from rgfactor.data.loaders import LOADERS

    return {**LOADERS, "simulate": simulate.cohort}


PATHLESS = ("simulate",)   # sources that read no files


def load_source(source: str, options: dict, path: Path | None):
    """Run the reader ``source`` with its ``options`` (and ``path`` for file-based sources).

    Raises
    ------
    SpecError  for an unknown source or options the reader does not take.
    """
    import inspect

    known = sources()
    if source not in known:
        raise SpecError(f"unknown data source '{source}'; known: {sorted(known)}.")
    reader = known[source]
    params = inspect.signature(reader).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            allowed = sorted(k for k, p in params.items() if p.kind == p.KEYWORD_ONLY)
            raise SpecError(f"data source '{source}' has no option(s) {unknown}; its options: {allowed}.")
    else:   # the simulator: check against the simulated cohort's parameters
        from rgfactor.simulate import multiview

        allowed = set(inspect.signature(multiview).parameters)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise SpecError(f"data source '{source}' has no option(s) {unknown}; its options: {sorted(allowed)}.")
    if source in PATHLESS:
        return reader(**options)
    return reader(path, **options)
