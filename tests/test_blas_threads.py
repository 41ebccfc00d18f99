"""Fits run with one BLAS thread by default (rgfactor.inference.blas), restored afterwards."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from rgfactor.errors import SpecError
from rgfactor.inference.blas import ENV, blas_thread_limit, blas_threads


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_limit_applies_inside_and_is_restored(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    before = _blas_threads()
    with blas_threads():
        assert _blas_threads() == {1}
    assert _blas_threads() == before


def test_environment_variable(monkeypatch):
    monkeypatch.setenv(ENV, "0")
    assert blas_thread_limit() is None
    before = _blas_threads()
    with blas_threads():
        assert _blas_threads() == before
    monkeypatch.setenv(ENV, "3")
    assert blas_thread_limit() == 3
    monkeypatch.setenv(ENV, "all")
    with pytest.raises(SpecError, match=ENV):
        blas_thread_limit()


def test_fit_runs_under_the_limit(monkeypatch):
    """The estimators' common fit path (run_recorded) applies the limit."""
    from rgfactor.estimators.base import run_recorded

    class Dummy:
        pass

    monkeypatch.delenv(ENV, raising=False)
    seen = {}

    def fit():
        seen["threads"] = _blas_threads()
        return {"diagnostics_": {}}

    run_recorded(Dummy(), fit)
    assert seen["threads"] == {1}
