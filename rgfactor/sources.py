"""Data sources a spec's ``[data] source`` can name: the real-cohort readers, a user's own files
(``tables``: one CSV/TSV/Parquet file per view plus a clinical table, see :mod:`rgfactor.data.tables`;
``unit_table``: one row per spatial unit for structure "SVC", see :mod:`rgfactor.data.units`), the
multi-region cohort ``lgg_mri_shells`` and the simulator.

A front-door module (the data layer cannot import the simulator, which uses the model): the command
line and the benchmarks resolve ``source`` here.
"""

from __future__ import annotations

from pathlib import Path

from rgfactor.errors import SpecError


def sources() -> dict:
    """name -> reader returning (MultiViewData, labels DataFrame), or (unit table DataFrame, None) for
    the sources of unit-level rows (structure "SVC")."""
    from rgfactor import simulate
    from rgfactor.data.loaders import LOADERS
    from rgfactor.data.tables import from_tables
    from rgfactor.data.units import LOADERS as UNIT_LOADERS

    return {**LOADERS, **UNIT_LOADERS, TABLES: from_tables, "simulate": simulate.cohort}


PATHLESS = ("simulate",)   # sources that read no files
TABLES = "tables"          # a user's own files; its [data.views.*] and [data.clinical] tables are reader options
TABLE_KEYS = ("views", "clinical")
OWN_FILES = (TABLES, "unit_table")   # a user's files: relative to the spec file's folder by default


def spec_source(spec, spec_path: Path, project_root: Path, data_root: str | None = None):
    """(source, options, folder) of a spec's ``[data]`` table, ready for :func:`load_source`.

    The ``tables`` source takes ``[data.views.NAME]`` and ``[data.clinical]`` as options; its files (and
    those of ``unit_table``) are relative to ``root``/``path``, where ``root`` defaults to the spec file's folder (not the shared data
    folder of the built-in cohorts). ``data_root`` (``--data-root``) overrides ``root``.
    """
    source = spec.data["source"]
    options = dict(spec.data.get("options", {}))
    if source == TABLES:
        for key in TABLE_KEYS:
            if key in spec.data:
                options[key] = spec.data[key]
    elif any(key in spec.data for key in TABLE_KEYS):
        raise SpecError(f"spec '{spec.name}': [data.views]/[data.clinical] belong to source = '{TABLES}', "
                        f"not '{source}'.")
    if source in OWN_FILES and not data_root and "root" not in spec.data:
        return source, options, Path(spec_path).resolve().parent / spec.data.get("path", "")
    return source, options, None if source in PATHLESS else spec.data_path(project_root, data_root)


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
