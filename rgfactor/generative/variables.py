"""Declarations of model variables: name, dims and role, written once beside the block that samples them.

Every other layer reads these declarations instead of parsing names: the posterior layer takes the
dims of ``InferenceData`` from them, alignment permutes and sign-flips exactly the variables whose
role says so, and sampler-only helpers are dropped from the reported posterior.

    LOADINGS = Variable("W_{view}", ("{view}_feature", "factor"), Role.LOADINGS)
    LOADINGS.bind(view="rna")   # Variable('W_rna', ('rna_feature', 'factor'), ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto


class Role(Flag):
    """What a variable is, for the layers that treat variables differently.

    REPORTED  kept in the posterior group of ``InferenceData``.
    SAMPLER   a sampled helper (non-centred raw values, local shrinkage scales, the engine's own
              parameterisation): dropped from the reported posterior.
    FACTOR    its last axis indexes the factors: permuted with ``Z`` by alignment and ordering.
    SIGNED    flips sign with its factor (a factor-indexed coefficient such as a loading or a path
              coefficient from the factor to an outcome). Implies FACTOR.
    ROTATABLE rotated with ``Z`` when draws are aligned by orthogonal Procrustes (``Z`` and the
              loadings; only variables for which Z -> Z R, x -> x R leaves the likelihood unchanged).
    PATH      a path coefficient between the factors and an exposure or outcome (mediation), not a
              loading: moved with its factor as its other flags say, but left out of the sign
              convention, which reads the loadings only.
    """

    REPORTED = auto()
    SAMPLER = auto()
    FACTOR = auto()
    SIGNED = auto()
    ROTATABLE = auto()
    PATH = auto()


# the common combinations
SCORES = Role.REPORTED | Role.FACTOR | Role.SIGNED | Role.ROTATABLE       # Z and loadings W
FACTOR_SCALE = Role.REPORTED | Role.FACTOR                                # ARD precisions, amplitudes
FACTOR_COEF = Role.REPORTED | Role.FACTOR | Role.SIGNED                   # factor -> outcome paths
PLAIN = Role.REPORTED
HELPER = Role.SAMPLER


@dataclass(frozen=True)
class Variable:
    """One model variable (or a template of one per view).

    Attributes
    ----------
    name : contract name, possibly a template with ``{view}`` (e.g. ``'W_{view}'``).
    dims : dims after (chain, draw), contract names, possibly templates (``'{view}_feature'``).
    role : :class:`Role` flags.
    doc : one line for the model page's symbol table.
    """

    name: str
    dims: tuple[str, ...]
    role: Role = PLAIN
    doc: str = ""

    def bind(self, **names) -> Variable:
        """The variable of a concrete view: templates filled in (``view='rna'``)."""
        return Variable(self.name.format(**names), tuple(d.format(**names) for d in self.dims), self.role, self.doc)

    @property
    def reported(self) -> bool:
        return bool(self.role & Role.REPORTED)

    @property
    def factor_indexed(self) -> bool:
        return bool(self.role & (Role.FACTOR | Role.SIGNED | Role.ROTATABLE))

    @property
    def signed(self) -> bool:
        return bool(self.role & (Role.SIGNED | Role.ROTATABLE))

    @property
    def rotatable(self) -> bool:
        return bool(self.role & Role.ROTATABLE)
