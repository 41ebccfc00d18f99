#!/usr/bin/env bash
# Install rgfactor with its test extras and run the whole test suite (slow statistical tests included).
# Every test has a timeout (pytest-timeout), so a hang fails in minutes. Extra arguments go to pytest
# (e.g. -m "not slow" for the fast unit tests only).
source "$(dirname "$0")/_venv.sh" "[test]"
# One BLAS/OpenMP thread per test process: OpenBLAS threads busy-wait, and two workers on two cores
# with two threads each made LAPACK calls many times slower (see rgfactor/inference/blas.py).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
# Two workers by default (pytest-xdist; tests of one file share a worker and its fixtures), the longest
# files first (tests/conftest.py orders them; --no-loadscope-reorder keeps that order instead of xdist's
# by number of tests). RGFACTOR_TEST_WORKERS=0 runs in this process, e.g. for a debugger.
# RGFACTOR_TEST_COMPILATION_CACHE=1 shares one fresh JAX compilation cache between the run's workers and
# subprocesses (tests/conftest.py; off by default: jaxlib 0.9 has segfaulted loading cached programs).
python -m pytest -q -p no:cacheprovider -n "${RGFACTOR_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder \
    --durations=30 "$@"
