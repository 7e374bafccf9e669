"""Resample motion to egogen's 30 Hz (DESIGN.md: bodies, camera and gaze at 30 Hz)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

__all__ = ["TARGET_FPS", "resample_times", "resample_positions", "resample_rotvecs"]

TARGET_FPS = 30.0


def resample_times(num_frames: int, src_fps: float, dst_fps: float = TARGET_FPS) -> np.ndarray:
    """Output sample times (s) from 0 to the clip's last frame time, step 1 / dst_fps.

    Raises:
        ValueError: if fps <= 0 or num_frames < 2.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive (got {src_fps}, {dst_fps})")
    if num_frames < 2:
        raise ValueError("need at least 2 frames to resample")
    duration = (num_frames - 1) / src_fps
    return np.arange(int(np.floor(duration * dst_fps + 1e-9)) + 1) / dst_fps


def resample_positions(x: np.ndarray, src_fps: float, dst_fps: float = TARGET_FPS) -> np.ndarray:
    """Linearly interpolate (T, ...) samples at ``src_fps`` onto the ``dst_fps`` grid.

    Returns:
        (T', ...) float64, T' = floor((T - 1) / src_fps * dst_fps) + 1; frame 0 is kept.
    """
    x = np.asarray(x, dtype=np.float64)
    t_src = np.arange(x.shape[0]) / src_fps
    t_dst = resample_times(x.shape[0], src_fps, dst_fps)
    flat = x.reshape(x.shape[0], -1)
    out = np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape((len(t_dst),) + x.shape[1:])


def resample_rotvecs(rv: np.ndarray, src_fps: float, dst_fps: float = TARGET_FPS) -> np.ndarray:
    """Slerp (T, ..., 3) axis-angle rotations onto the ``dst_fps`` grid (per joint).

    Interpolating in quaternions, not Euler or axis-angle components, avoids the gimbal and
    wrap-around artefacts of clips like CMU 69_20 (../shared/mocap/README.md).
    Returns:
        (T', ..., 3) float64 axis-angle.
    """
    rv = np.asarray(rv, dtype=np.float64)
    T = rv.shape[0]
    flat = rv.reshape(T, -1, 3)
    t_src = np.arange(T) / src_fps
    t_dst = np.minimum(resample_times(T, src_fps, dst_fps), t_src[-1])
    out = np.empty((len(t_dst), flat.shape[1], 3))
    for j in range(flat.shape[1]):
        out[:, j] = Slerp(t_src, Rotation.from_rotvec(flat[:, j]))(t_dst).as_rotvec()
    return out.reshape((len(t_dst),) + rv.shape[1:])
