"""Canonical frame of a motion primitive and primitive windows (EgoGen, "Motion primitives").

EgoGen (after GAMMA/DIMOS) expresses each primitive in a body-centred frame built on its first
frame: origin at the pelvis projected to the floor (so heights stay heights above the floor),
x = right hip - left hip projected to the floor plane, z = world up, y = z x x, which is then
the body's forward (facing) direction.
"""

from __future__ import annotations

import numpy as np

from egogen.body.skeleton import JOINT_INDEX

__all__ = ["canonical_frame", "to_canonical", "from_canonical", "canonicalize_smplx",
           "primitive_windows", "HISTORY_FRAMES", "FUTURE_FRAMES"]

HISTORY_FRAMES = 2
FUTURE_FRAMES = 13
"""At 30 Hz: 2 + 13 = 15 frames = 0.5 s per primitive, 0.43 s of new motion (EgoGen: 2 + 18
at 40 fps)."""
_PELVIS, _LHIP, _RHIP = JOINT_INDEX["pelvis"], JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]


def canonical_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-from-canonical rotation and origin from one frame of SMPL-X joints.

    Args:
        joints: (..., J>=3, 3) world joints of ONE frame per batch item (metres, Z up), SMPL-X
            order (pelvis 0, left_hip 1, right_hip 2).
    Returns:
        R: (..., 3, 3) columns = canonical x, y, z axes in world coordinates;
        origin: (..., 3) pelvis with z = 0.
    Raises:
        ValueError: if the hip axis is (nearly) vertical or the hips coincide.
    """
    x = joints[..., _RHIP, :] - joints[..., _LHIP, :]
    x = x * np.array([1.0, 1.0, 0.0])
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(n < 1e-6):
        raise ValueError("degenerate canonical frame: the hips coincide on the floor plane")
    x = x / n
    z = np.broadcast_to(np.array([0.0, 0.0, 1.0]), x.shape)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-1)
    origin = joints[..., _PELVIS, :] * np.array([1.0, 1.0, 0.0])
    return R, origin


def to_canonical(points: np.ndarray, R: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """World points (..., N, 3) -> canonical, with R (..., 3, 3), origin (..., 3) per item."""
    return np.einsum("...ji,...nj->...ni", R, points - origin[..., None, :])


def from_canonical(points: np.ndarray, R: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Canonical points (..., N, 3) -> world (inverse of :func:`to_canonical`)."""
    return np.einsum("...ij,...nj->...ni", R, points) + origin[..., None, :]


def canonicalize_smplx(global_orient_mat: np.ndarray, transl: np.ndarray, rest_pelvis: np.ndarray,
                       R: np.ndarray, origin: np.ndarray, inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Express SMPL-X root parameters in a canonical frame (or back with ``inverse``).

    Args:
        global_orient_mat: (T, 3, 3) root rotations; transl: (T, 3); rest_pelvis: (3,) rest
            pelvis of the body (the posed pelvis is rest_pelvis + transl); R (3, 3), origin (3,).
    Returns:
        (global_orient_mat, transl) in the new frame; body_pose is unchanged by construction.
    """
    pelvis = rest_pelvis + transl
    if inverse:
        return R @ global_orient_mat, pelvis @ R.T + origin - rest_pelvis
    return R.T @ global_orient_mat, (pelvis - origin) @ R - rest_pelvis


def primitive_windows(num_frames: int, history: int = HISTORY_FRAMES, future: int = FUTURE_FRAMES,
                      stride: int | None = None) -> np.ndarray:
    """Frame indices of the primitives cut from a clip.

    Args:
        num_frames: clip length (30 Hz frames); stride: start-to-start step (default
            ``future``, so that each primitive's last 2 frames seed the next one as in
            EgoGen's roll-out).
    Returns:
        (N, history + future) int64 indices; N = 0 if the clip is too short.
    """
    L = history + future
    stride = future if stride is None else stride
    if stride < 1:
        raise ValueError("stride must be >= 1")
    starts = np.arange(0, max(num_frames - L + 1, 0), stride)
    return starts[:, None] + np.arange(L)[None, :]
