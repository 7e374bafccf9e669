"""Continuous 6D rotation representation (Zhou et al., CVPR 2019), as EgoGen's regressor uses.

The 6D vector is the first two columns of the rotation matrix, stacked (a1, a2); decoding is
Gram-Schmidt. Torch, any float dtype, batched over leading dimensions.
"""

from __future__ import annotations

import torch

__all__ = ["rot6d_to_mat", "mat_to_rot6d"]


def rot6d_to_mat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) rotation matrices (columns b1, b2, b1 x b2)."""
    a1, a2 = x[..., :3], x[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def mat_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6) = first two columns."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)
