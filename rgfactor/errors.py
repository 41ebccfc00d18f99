"""Errors and warnings raised by rgfactor.

Every error a user can cause is a subclass of :class:`RGFactorError`, itself a
``ValueError``, and its message names the view, feature or subject at fault and the way out.
"""

from __future__ import annotations


class RGFactorError(ValueError):
    """Base class of every rgfactor input error."""


class DataError(RGFactorError):
    """Invalid data: wrong values for a likelihood, duplicated subjects, missing site labels, ..."""


class SpecError(RGFactorError):
    """Invalid model specification or estimator settings (unknown structure, bad prior, ...)."""


class NotFittedError(RGFactorError, AttributeError):
    """A fitted attribute was requested from an estimator that has not been fitted."""


class FitFileError(RGFactorError):
    """A saved fit (or run directory) cannot be written or read: a foreign or damaged file, a format
    from another version, a directory holding files rgfactor did not write."""


class InferenceError(RGFactorError):
    """Inference could not run (non-finite ELBO, unsupported prior for the chosen method, ...)."""


class DataWarning(UserWarning):
    """Data were changed on the way in (constant feature dropped, counts rounded, ...)."""


class ConvergenceWarning(UserWarning):
    """Inference stopped before its convergence criterion was met, or diagnostics look poor."""
