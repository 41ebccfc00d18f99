"""How many threads the BLAS/LAPACK libraries may use during a fit (one by default).

JAX's CPU linear algebra (Cholesky, eigh, triangular solves) calls the LAPACK of SciPy's OpenBLAS,
and so do NumPy/scikit-learn in the data path (PCA start). OpenBLAS threads busy-wait: when another
process (a second test worker, a Dask worker, a neighbour on a shared node) holds the other cores,
each call waits for threads that cannot run. Measured on this project's 2-core machine under load:
ten 600 x 600 eigh + Cholesky calls in a jitted JAX function took 45.9 s with OpenBLAS's default
2 threads and 1.7-2.5 s with one. The matrices a fit hands to LAPACK are small (K x K, basis x basis),
where a second thread gains little even on an idle machine, while XLA's own matrix products keep
their thread pool. So fits run with one BLAS thread; ``RGFACTOR_BLAS_THREADS=N`` allows N, and
``RGFACTOR_BLAS_THREADS=0`` leaves the libraries' settings alone. The previous limits are restored
when the fit returns (``threadpoolctl``, the library scikit-learn uses for the same purpose).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from rgfactor.errors import SpecError

ENV = "RGFACTOR_BLAS_THREADS"


def blas_thread_limit() -> int | None:
    """The number of BLAS threads a fit may use (None: unchanged), from ``RGFACTOR_BLAS_THREADS``.

    Raises
    ------
    SpecError  if the variable is set to something other than a non-negative integer.
    """
    raw = os.environ.get(ENV, "1").strip()
    if not raw.isdigit():
        raise SpecError(f"{ENV}={raw!r}: give a number of threads (0 leaves the BLAS settings unchanged).")
    return int(raw) or None


@contextmanager
def blas_threads():
    """Limit BLAS/LAPACK threads to :func:`blas_thread_limit` for the duration of the block."""
    limit = blas_thread_limit()
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield
