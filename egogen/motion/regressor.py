"""Marker -> SMPL-X regressor (EgoGen, "Marker -> SMPL-X regressor"): an iterative residual
MLP that turns predicted SSM2 markers back into body parameters.

Input per iteration: markers (M x 3, canonical, metres) + current estimate x + betas; output
a residual added to x. x = 6D rotations (Zhou et al.) of global orient and the 21 body joints
(22 x 6) and transl (3), in the primitive's canonical frame (z up, +y forward). x starts at a
neutral pose facing +y (EgoGen starts from zero; a valid rotation avoids the degenerate 6D).
Hands are not regressed (EgoGen regresses 12 + 12 hand PCA; CMU has no finger data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from egogen.motion.mocap import Y_UP_TO_Z_UP
from egogen.motion.rot6d import mat_to_rot6d, rot6d_to_mat

__all__ = ["RegressorConfig", "MarkerRegressor", "X_DIM", "unpack"]

X_DIM = 22 * 6 + 3


@dataclass(frozen=True)
class RegressorConfig:
    """Sizes (EgoGen: 10 residual blocks of 128, 3 iterations)."""

    num_markers: int = 67
    num_betas: int = 16
    hidden: int = 256
    blocks: int = 4
    iterations: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class _Block(nn.Module):
    def __init__(self, h: int):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, h))

    def forward(self, x):
        return torch.nn.functional.leaky_relu(x + self.f(x), 0.2)


def unpack(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 135) estimate -> rotation matrices (B, 22, 3, 3) (joint 0 = global orient) and
    transl (B, 3) metres."""
    return rot6d_to_mat(x[:, :132].reshape(-1, 22, 6)), x[:, 132:]


class MarkerRegressor(nn.Module):
    """x_{k+1} = x_k + net([markers, x_k, betas]) for ``iterations`` steps."""

    def __init__(self, cfg: RegressorConfig = RegressorConfig()):
        super().__init__()
        self.cfg = cfg
        H = cfg.hidden
        self.inp = nn.Sequential(nn.Linear(cfg.num_markers * 3 + X_DIM + cfg.num_betas, H), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*[_Block(H) for _ in range(cfg.blocks)])
        self.head = nn.Linear(H, X_DIM)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # neutral start: body canonical (Y up, facing +Z) -> canonical frame (Z up, facing +Y)
        rz180 = torch.tensor([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
        G0 = rz180 @ torch.as_tensor(Y_UP_TO_Z_UP, dtype=torch.float32)
        R0 = torch.eye(3).repeat(22, 1, 1)
        R0[0] = G0
        self.register_buffer("x0", torch.cat([mat_to_rot6d(R0).reshape(-1), torch.zeros(3)]))

    def forward(self, markers: torch.Tensor, betas: torch.Tensor) -> list[torch.Tensor]:
        """Regress body parameters.

        Args:
            markers: (B, M, 3) float32 markers in a primitive canonical frame, metres.
            betas: (B, NB) shape of the body that carries them.
        Returns:
            list of ``iterations`` estimates (B, 135), last = final; see :func:`unpack`.
        """
        B = markers.shape[0]
        x = self.x0.expand(B, -1)
        m = markers.reshape(B, -1)
        outs = []
        for _ in range(self.cfg.iterations):
            x = x + self.head(self.blocks(self.inp(torch.cat([m, x, betas], dim=-1))))
            outs.append(x)
        return outs
