"""k-point meshes from a spacing, as the paper's Gamma-centred meshes."""

from __future__ import annotations

import math

import numpy as np


def kpoint_mesh(cell, spacing: float, n_atoms: int = 0, gamma_only_above_atoms: int | None = None) -> list[int]:
    """Gamma-centred mesh with at most ``spacing`` Å^-1 (2π included) between k-points.

    With 0.21 Å^-1 this gives the paper's meshes: 3x3x3 for the 54-atom BCC Li cell and 4x4x4
    for the 52-atom Li6PS5Cl cell; cells above ``gamma_only_above_atoms`` atoms (the paper's
    228-atom interface) use the Gamma point only.
    """
    if not spacing > 0:
        raise ValueError(f'k-point spacing must be positive, got {spacing}')
    if gamma_only_above_atoms is not None and n_atoms > gamma_only_above_atoms:
        return [1, 1, 1]
    reciprocal = 2 * math.pi * np.linalg.inv(np.asarray(cell, float)).T
    return [max(1, math.ceil(np.linalg.norm(b) / spacing - 1e-6)) for b in reciprocal]
