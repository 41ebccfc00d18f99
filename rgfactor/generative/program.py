"""A model's NumPyro program as a value.

The inference layer compiles its SVI programs (initialisation, a chunk of optimiser steps, the draws
from the fitted guide) with the NumPyro program as a static argument of ``jax.jit``. A program that
is a new closure per call would make every fit compile them again; :class:`Program` compares equal
for equal model descriptions (the descriptions are frozen dataclasses), so the second fit of a model
with data of the same shapes reuses the compiled programs of the first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    """``program(data)`` runs ``model.numpyro_model(data, engine)``: the NumPyro model of ``model`` in
    the parameterisation of ``engine`` ('svi', 'nuts' or 'cavi'). Hashable; equal for equal models."""

    model: object
    engine: str = "svi"

    def __call__(self, data: dict) -> None:
        return self.model.numpyro_model(data, self.engine)
