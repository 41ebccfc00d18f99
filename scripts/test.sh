#!/usr/bin/env bash
# Install rgfactor with its test extras and run the whole test suite (slow statistical tests included).
# Every test has a timeout (pytest-timeout), so a hang fails in minutes. Extra arguments go to pytest
# (e.g. -m "not slow" for the fast unit tests only).
source "$(dirname "$0")/_venv.sh" "[test]"
# Two workers by default (pytest-xdist; tests of one file share a worker and its fixtures):
# RGFACTOR_TEST_WORKERS=0 runs in this process, e.g. for a debugger.
python -m pytest -q -p no:cacheprovider -n "${RGFACTOR_TEST_WORKERS:-2}" --dist loadfile --durations=30 "$@"
