"""`sei-nequip-compile`: `nequip-compile` (same arguments) whose compiled models compute cell
volumes as triple products instead of ``torch.linalg.det``.

AOTInductor has no CUDA kernel ("c-shim") for ``aten._linalg_det`` and falls back to its proxy
executor, which segfaults inside the compiled wrapper on CUDA (torch 2.11-2.13, an H200:
docs/production.md). nequip calls ``torch.linalg.det(cell)`` for the stress (1/V) of every
frame; for 3x3 cells the triple product a·(b×c) is the same number from elementwise operations
that every backend compiles. Other shapes keep torch's ``det``.
"""

from __future__ import annotations

import sys

import torch

_TORCH_DET = torch.linalg.det


def triple_product_det(matrix: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """``det`` of (..., 3, 3) matrices as a·(b×c) of their rows; torch's ``det`` otherwise."""
    if out is not None or matrix.shape[-2:] != (3, 3):
        return _TORCH_DET(matrix, out=out)
    a, b, c = matrix[..., 0, :], matrix[..., 1, :], matrix[..., 2, :]
    return (a[..., 0] * (b[..., 1] * c[..., 2] - b[..., 2] * c[..., 1])
            + a[..., 1] * (b[..., 2] * c[..., 0] - b[..., 0] * c[..., 2])
            + a[..., 2] * (b[..., 0] * c[..., 1] - b[..., 1] * c[..., 0]))


def main() -> int | None:
    torch.linalg.det = triple_product_det  # looked up when nequip's stress module is traced
    from nequip.scripts.compile import main as nequip_compile

    sys.argv[0] = 'nequip-compile'
    return nequip_compile()


if __name__ == '__main__':
    sys.exit(main())
