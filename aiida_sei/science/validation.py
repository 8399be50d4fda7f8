"""Checks of user-supplied numbers, with errors that say what was wrong."""

from __future__ import annotations

import math


class StructureInputError(ValueError):
    """A structure cannot be built from the given parameters (the message says why)."""


#: Largest length (Å) and supercell (repeats) a builder accepts: a typo, not a study, beyond them.
MAX_LENGTH = 1000.0
MAX_REPEATS = 100_000


def positive_length(name: str, value) -> float:
    """``value`` as a positive, finite float (Å), or a :class:`StructureInputError`."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StructureInputError(f'{name} must be a number of Å, got {value!r}') from None
    if not math.isfinite(value) or value <= 0 or value > MAX_LENGTH:
        raise StructureInputError(f'{name} must be a positive number of Å up to {MAX_LENGTH:g}, got {value!r}')
    return value


def supercell_repeats(name: str, value) -> tuple[int, int, int]:
    """``value`` as three positive integers, or a :class:`StructureInputError`."""
    try:
        reps = tuple(int(n) for n in value)
    except (TypeError, ValueError):
        raise StructureInputError(f'{name} must be three integers, got {value!r}') from None
    if len(reps) != 3 or any(n <= 0 for n in reps) or any(float(n) != int(n) for n in value):
        raise StructureInputError(f'{name} must be three positive integers, got {value!r}')
    if math.prod(reps) > MAX_REPEATS:
        raise StructureInputError(f'{name} {list(reps)} repeats the cell {math.prod(reps):,} times (at most {MAX_REPEATS:,})')
    return reps
