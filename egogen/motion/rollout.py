"""Chaining motion primitives (EgoGen / GAMMA roll-out) and joints from markers.

A roll-out starts from 2 seed frames (world markers), then repeatedly: canonical frame from
the first seed frame -> decode 13 frames -> back to world -> the last 2 frames seed the next
primitive. The canonical frame needs pelvis and hips; from markers they come from
:class:`MarkerJoints`, a fixed affine combination of markers (weights sum to 1 per joint, so
it commutes with rigid motions), fitted by least squares on the training data.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

__all__ = ["MarkerJoints", "canonical_frame_t", "rollout"]


class MarkerJoints(torch.nn.Module):
    """Body joints as affine combinations of markers: J = W @ markers, rows of W sum to 1.

    Args:
        weights: (22, M) tensor.
    """

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    @classmethod
    def fit(cls, markers: np.ndarray, joints: np.ndarray, ridge: float = 1e-4) -> "MarkerJoints":
        """Least squares fit on (F, M, 3) markers and (F, J, 3) joints (any common frame).

        Solves j - m_0 = sum_{k>0} w_k (m_k - m_0) for all frames and axes (so sum w = 1).
        """
        m = np.asarray(markers, np.float64)
        j = np.asarray(joints, np.float64)
        A = (m[:, 1:] - m[:, :1]).transpose(0, 2, 1).reshape(-1, m.shape[1] - 1)  # (F*3, M-1)
        b = (j - m[:, :1]).transpose(0, 2, 1).reshape(-1, j.shape[1])  # (F*3, J)
        w = np.linalg.solve(A.T @ A + ridge * np.eye(A.shape[1]), A.T @ b)  # (M-1, J)
        W = np.concatenate([1 - w.sum(0, keepdims=True), w], 0).T
        return cls(torch.as_tensor(W, dtype=torch.float32))

    def forward(self, markers: torch.Tensor) -> torch.Tensor:
        """(..., M, 3) markers -> (..., 22, 3) joints, same frame."""
        return torch.einsum("jm,...mc->...jc", self.weights, markers)


def canonical_frame_t(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch :func:`egogen.motion.canonical.canonical_frame`: (B, J, 3) world joints of one
    frame -> R (B, 3, 3) world-from-canonical (columns x, y, z), origin (B, 3) on the floor."""
    x = joints[:, 2] - joints[:, 1]
    x = torch.nn.functional.normalize(x * x.new_tensor([1.0, 1.0, 0.0]), dim=-1, eps=1e-8)
    z = torch.zeros_like(x)
    z[:, 2] = 1
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], dim=-1), joints[:, 0] * joints.new_tensor([1.0, 1.0, 0.0])


def _to_c(p, R, o):
    return torch.einsum("bji,b...j->b...i", R, p - o[:, None, None])


def _from_c(p, R, o):
    return torch.einsum("bij,b...j->b...i", R, p) + o[:, None, None]


def primitive_windows(seq: torch.Tensor, mj: MarkerJoints, future: int) -> torch.Tensor:
    """The primitive windows of a chained roll-out, each in its own canonical frame.

    Args:
        seq: (B, 2 + future * K, M, 3) world markers of :func:`rollout` (metres, Z up).
        mj: :class:`MarkerJoints` for the canonical frames.
        future: frames per primitive (the C-VAE's ``cfg.future``).
    Returns:
        (B, K, 2 + future, M, 3): window k = frames ``[future k, future k + 2 + future)`` (its 2
        seed frames and the primitive) in the canonical frame of its first frame (z up, +y
        forward, origin = pelvis on the floor), as the C-VAE and the regressor see them.
    """
    K = (seq.shape[1] - 2) // future
    out = []
    for k in range(K):
        win = seq[:, future * k:future * k + 2 + future]
        R, o = canonical_frame_t(mj(win[:, 0]))
        out.append(_to_c(win, R, o))
    return torch.stack(out, 1)


def rollout(cvae, mj: MarkerJoints, seed: torch.Tensor, num_primitives: int,
            z: torch.Tensor | None = None, generator: torch.Generator | None = None,
            future: torch.Tensor | None = None,
            project: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Chain primitives in the world frame.

    Args:
        cvae: :class:`egogen.motion.cvae.MotionCVAE`.
        mj: :class:`MarkerJoints` for the canonical frames.
        seed: (B, 2, M, 3) world markers (metres, Z up) of the 2 seed frames.
        num_primitives: primitives to chain (13 new frames each at 30 Hz).
        z: (B, num_primitives, latent) codes; default z ~ N(0, I) from ``generator``.
        future: (B, num_primitives * 13, M, 3) optional world ground truth; when given, z is
            the posterior mean of the ground truth re-expressed in each predicted frame (the
            roll-out fine-tuning stage).
        project: optional ``(B, 2, M, 3) -> (B, 2, M, 3)`` map applied to each next primitive's
            seed frames, e.g. :class:`~egogen.motion.reproject.SeedProjector` (EgoGen's seed
            re-projection); the returned frames are the projected ones, so every primitive's
            seeds are the two frames before it.
    Returns:
        (B, 2 + 13 * num_primitives, M, 3) world markers, seed included.
    """
    B, _, M, _ = seed.shape
    F = cvae.cfg.future
    frames = [seed]
    cur = seed
    for k in range(num_primitives):
        R, o = canonical_frame_t(mj(cur[:, 0]))
        R, o = R.detach(), o.detach()
        hist = _to_c(cur, R, o).reshape(B, 2, -1)
        if future is not None:
            gt = _to_c(future[:, k * F:(k + 1) * F], R, o).reshape(B, F, -1)
            zk = cvae.encode(hist, gt)[0]
        elif z is not None:
            zk = z[:, k]
        else:
            zk = torch.randn(B, cvae.cfg.latent, generator=generator).to(seed)
        pred = _from_c(cvae.decode(hist, zk).reshape(B, F, M, 3), R, o)
        cur = pred[:, -2:]
        if project is not None and k < num_primitives - 1:
            cur = project(cur)
            pred = torch.cat([pred[:, :-2], cur], dim=1)
        frames.append(pred)
    return torch.cat(frames, dim=1)
