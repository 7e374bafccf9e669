"""What the tokenizers see: per-frame motion, camera and gaze features, their inverses and
the reconstruction metrics (MPJPE, camera translation / rotation error, gaze angle).

All streams are 30 Hz (DESIGN.md). Rotations use the continuous 6D representation (Zhou et
al. 2019; first two columns of the matrix, :mod:`egogen.motion.rot6d`).

Motion (EgoLM's motion tokenizer input, HumanML3D-style root), ``MOTION_DIM`` = 136 per frame:

====================  =====  =================================================================
slice                 dims   meaning
====================  =====  =================================================================
``[0:6]``             6      pelvis (``global_orient``) rotation in the frame's *heading
                             frame*, 6D. The heading frame of frame t: z up (world), x = the
                             pelvis forward axis (SMPL-X canonical +Z carried by
                             ``global_orient``) projected on the floor; yaw ``psi_t`` =
                             atan2(forward_y, forward_x) in the world. So this slice keeps
                             pitch and roll (and the Y-up -> Z-up turn) but not the yaw.
``[6:132]``           126    the 21 ``body_pose`` joints (SMPL-X joints 1..21), local
                             rotations (relative to the parent), 6D each, in joint order.
``[132:134]``         2      pelvis horizontal velocity in the heading frame of frame t,
                             (p_{t+1} - p_t) * fps rotated by -psi_t: forward, left; m/s.
``[134]``             1      yaw rate wrap(psi_{t+1} - psi_t) * fps, rad/s (about world z).
``[135]``             1      pelvis height above the floor (world z), m.
====================  =====  =================================================================

The velocities of the last frame of a sequence repeat those of the frame before. The pelvis
``p_t`` is the posed SMPL-X joint 0 (``motion.npz`` ``joints[:, 0]``; ``transl`` for the
default body). Hands, jaw and eyes are not modelled (the simulated hands are flat).
:func:`motion_to_joints` integrates a window back into the *window frame* (origin: the first
frame's pelvis on the floor, x: its heading, z up) and runs SMPL-X forward kinematics for the
22 body joints.

Camera (EgoM2P), ``CAMERA_DIM`` = 9 per frame of a window: the pose of frame t relative to
the window's first frame, ``T_0^-1 T_t``: its rotation ``R_0^T R_t`` in 6D and translation
``R_0^T (c_t - c_0)`` in metres, in the first frame's OpenCV camera axes (x right, y down,
z forward).

Wrists (EgoLM's 3-point tracking input; the head is the camera stream), ``WRISTS_DIM`` = 18
per frame of a window: the left and right wrist joint frames of ``sensors.npz`` relative to the
window's first *head* joint frame, 9 numbers each as for the camera (6D + metres, head-frame
axes) - the same code path as the camera features with another reference frame.

Gaze, ``GAZE_DIM`` = 2 per frame: the gaze direction as (yaw, pitch) in radians in the
OpenCV camera frame, ``yaw = atan2(d_x, d_z)`` (positive to the right), ``pitch =
atan2(-d_y, hypot(d_x, d_z))`` (positive up). Direction rather than EgoM2P's normalised gaze
pixel because the pixel depends on the rig (Aria's fisheye vs pinhole rigs map the same
direction to different pixels; image size), leaves [0, 1] for targets outside the image, and
errors in pixels do not compare across rigs; yaw / pitch are bounded, smooth, rig-free and
convert to the pixel with the sample's camera model at the edge.
"""

from __future__ import annotations

import numpy as np
import torch

from egogen.body.skeleton import PARENTS
from egogen.motion.rot6d import mat_to_rot6d, rot6d_to_mat
from egogen.rotations import aa_to_mat

__all__ = [
    "MOTION_JOINTS", "MOTION_DIM", "CAMERA_DIM", "GAZE_DIM", "WRISTS_DIM", "FPS",
    "heading_yaw", "motion_features", "motion_to_joints", "world_to_window",
    "camera_window_features", "wrist_window_features", "wrist_errors", "camera_from_features",
    "camera_tracking_errors",
    "gaze_features", "gaze_from_features",
    "mpjpe_mm", "camera_errors", "gaze_angle_deg",
]

FPS = 30.0
MOTION_JOINTS = 22
"""Pelvis + the 21 body_pose joints (SMPL-X joints 0..21)."""
MOTION_DIM = MOTION_JOINTS * 6 + 4
CAMERA_DIM = 9
GAZE_DIM = 2
WRISTS_DIM = 2 * CAMERA_DIM
"""Left and right wrist, each 6D rotation + translation relative to the window's first head frame."""
MOTION_PARENTS = tuple(PARENTS[:MOTION_JOINTS])

_HAS_CHILD = frozenset(MOTION_PARENTS[1:])


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def heading_yaw(R_root: np.ndarray) -> np.ndarray:
    """Yaw of the pelvis forward axis about world z.

    Args:
        R_root: (T, 3, 3) world-from-canonical pelvis rotations (``global_orient``).
    Returns:
        (T,) radians: atan2 of the world y and x of ``R_root @ (0, 0, 1)`` (SMPL-X's forward
        axis). Undefined (arbitrary) for a pelvis whose forward axis points straight up or down.
    """
    f = R_root[..., :, 2]
    return np.arctan2(f[..., 1], f[..., 0])


def _rz(psi):
    c, s = np.cos(psi), np.sin(psi)
    R = np.zeros(np.shape(psi) + (3, 3))
    R[..., 0, 0], R[..., 0, 1], R[..., 1, 0], R[..., 1, 1], R[..., 2, 2] = c, -s, s, c, 1.0
    return R


def motion_features(global_orient: np.ndarray, body_pose: np.ndarray, pelvis: np.ndarray,
                    fps: float = FPS) -> np.ndarray:
    """Per-frame motion features of one body (the table in the module docstring).

    Args:
        global_orient: (T, 3) world-frame pelvis axis-angle, rad (SMPL-X, incl. the
            Y-up -> Z-up turn).
        body_pose: (T, 63) axis-angle of joints 1..21, rad.
        pelvis: (T, 3) world pelvis position (SMPL-X joint 0), m, Z up, floor z = 0.
        fps: frame rate, Hz.
    Returns:
        (T, 136) float32; values below 1e-9 in magnitude are exactly 0 (bit-stable).
    Raises:
        ValueError: fewer than 2 frames or mismatched lengths.
    """
    go = np.asarray(global_orient, np.float64)
    T = go.shape[0]
    if T < 2 or body_pose.shape[0] != T or pelvis.shape[0] != T:
        raise ValueError(f"motion needs >= 2 frames of equal length (got {T}, {body_pose.shape[0]}, "
                         f"{pelvis.shape[0]})")
    R_go = aa_to_mat(go)
    psi = heading_yaw(R_go)
    R_c = np.swapaxes(_rz(psi), -1, -2) @ R_go
    R_body = aa_to_mat(np.asarray(body_pose, np.float64).reshape(T, 21, 3))
    R = np.concatenate([R_c[:, None], R_body], axis=1)  # (T, 22, 3, 3)
    rot6 = np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1).reshape(T, -1)
    p = np.asarray(pelvis, np.float64)
    dp = np.diff(p[:, :2], axis=0) * fps  # (T-1, 2)
    c, s = np.cos(psi[:-1]), np.sin(psi[:-1])
    v = np.stack([c * dp[:, 0] + s * dp[:, 1], -s * dp[:, 0] + c * dp[:, 1]], axis=-1)
    w = _wrap(np.diff(psi)) * fps
    v = np.concatenate([v, v[-1:]], axis=0)
    w = np.concatenate([w, w[-1:]], axis=0)
    out = np.concatenate([rot6, v, w[:, None], p[:, 2:3]], axis=1)
    # numerical zeros (|x| < 1e-9, e.g. a sideways velocity of 1e-16 m/s) are set to 0: numpy's
    # vectorised trigonometry can differ in those last bits with the arrays' memory alignment
    out[np.abs(out) < 1e-9] = 0.0
    return out.astype(np.float32)


def world_to_window(points: np.ndarray, global_orient0: np.ndarray, pelvis0: np.ndarray) -> np.ndarray:
    """World points -> the window frame of a window starting at a frame with this pelvis.

    Args:
        points: (..., 3) world, m.
        global_orient0: (3,) axis-angle of the first frame's pelvis; pelvis0: (3,) its position.
    Returns:
        (..., 3) in the window frame: origin = (pelvis0 x, y, 0), x = the first frame's heading,
        z up.
    """
    psi = heading_yaw(aa_to_mat(np.asarray(global_orient0, np.float64)[None]))[0]
    o = np.array([pelvis0[0], pelvis0[1], 0.0])
    return (np.asarray(points, np.float64) - o) @ _rz(psi)  # R^T x as row vectors


def _rz_torch(psi: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(psi), torch.sin(psi)
    z, o = torch.zeros_like(psi), torch.ones_like(psi)
    return torch.stack([c, -s, z, s, c, z, z, z, o], dim=-1).reshape(psi.shape + (3, 3))


def motion_to_joints(feat: torch.Tensor, rest_joints: torch.Tensor, fps: float = FPS,
                     return_rotations: bool = False):
    """Integrate motion features into body joints in the window frame (forward kinematics).

    Args:
        feat: (B, L, 136) motion features (any float dtype) of windows of L frames.
        rest_joints: (B, 22, 3) rest (shaped, unposed) SMPL-X joints 0..21 of each window's
            body in the SMPL-X canonical frame, m (``BodyModel(betas=...).joints[:, :22]``).
        fps: frame rate, Hz.
        return_rotations: also return the global joint rotations.
    Returns:
        joints (B, L, 22, 3), m, window frame: origin = the first frame's pelvis on the floor,
        x = its heading, z up (yaw and position integrated from the velocities; height
        absolute); with ``return_rotations`` also (B, L, 22, 3, 3) window-from-joint rotations.
        Matches ``smplx`` joints 0..21 (same frame) up to float error.
    """
    B, L, _ = feat.shape
    R = rot6d_to_mat(feat[..., :MOTION_JOINTS * 6].reshape(B, L, MOTION_JOINTS, 6))
    v, w, h = feat[..., 132:134], feat[..., 134], feat[..., 135]
    psi = torch.cumsum(w, dim=1) / fps
    psi = torch.cat([torch.zeros_like(psi[:, :1]), psi[:, :-1]], dim=1)
    c, s = torch.cos(psi), torch.sin(psi)
    dxy = torch.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], dim=-1) / fps
    xy = torch.cumsum(dxy, dim=1)
    xy = torch.cat([torch.zeros_like(xy[:, :1]), xy[:, :-1]], dim=1)
    pelvis = torch.cat([xy, h[..., None]], dim=-1)
    Rs = R.unbind(2)
    rest = rest_joints.to(feat.dtype)
    off = (rest[:, 1:] - rest[:, list(MOTION_PARENTS[1:])])[:, None]  # (B, 1, 21, 3) bone vectors
    G = [_rz_torch(psi) @ Rs[0]]
    P = [pelvis]
    for j in range(1, MOTION_JOINTS):  # parents come before children
        p = MOTION_PARENTS[j]
        P.append(P[p] + (G[p] * off[:, :, j - 1, None, :]).sum(-1))
        G.append(G[p] @ Rs[j] if return_rotations or j in _HAS_CHILD else None)
    joints = torch.stack(P, dim=2)
    if return_rotations:
        return joints, torch.stack(G, dim=2)
    return joints


def _relative_pose(R0t: torch.Tensor, c0: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Poses ``T`` (..., L, 4, 4) in a reference frame given by ``R0t`` = R_0^T (..., 1, 3, 3)
    and origin ``c0`` (..., 1, 3): (..., L, 9) = 6D of ``R_0^T R_t`` and ``R_0^T (c_t - c_0)``."""
    R, c = T[..., :3, :3], T[..., :3, 3]
    t = (R0t @ (c - c0)[..., None])[..., 0]
    return torch.cat([mat_to_rot6d(R0t @ R), t], dim=-1)


def camera_window_features(T_world_camera: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Camera features of windows: each frame's pose relative to the window's first frame.

    Args:
        T_world_camera: (N, L, 4, 4) camera -> world (OpenCV axes), m (numpy or torch).
    Returns:
        (N, L, 9) float32: 6D of ``R_0^T R_t`` and ``R_0^T (c_t - c_0)`` in m (first frame's
        camera axes); frame 0 is always (1, 0, 0, 0, 1, 0, 0, 0, 0). Computed in float64.
    """
    T = torch.as_tensor(T_world_camera, dtype=torch.float64)
    return _relative_pose(T[:, :1, :3, :3].transpose(-1, -2), T[:, :1, :3, 3], T).float()


def wrist_window_features(T_world_sensors: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Wrist features of windows (EgoLM's 3-point input without the head, which the camera
    stream carries): both wrists' poses relative to the window's *first head frame*.

    Args:
        T_world_sensors: (N, L, 3, 4, 4) the ``sensors.npz`` joint frames -> world, in the
            order head, left wrist, right wrist (m; numpy or torch).
    Returns:
        (N, L, 18) float32: per wrist (left, then right) the 9 numbers of
        :func:`camera_window_features` - 6D of ``R_h0^T R_w,t`` and ``R_h0^T (p_w,t - p_h0)``
        in m, in the axes of the head joint frame of the window's first frame. Computed in
        float64. Same code path as the camera features, with the head as the reference.
    """
    T = torch.as_tensor(T_world_sensors, dtype=torch.float64)
    R0t, c0 = T[:, :1, 0, :3, :3].transpose(-1, -2), T[:, :1, 0, :3, 3]
    return torch.cat([_relative_pose(R0t, c0, T[:, :, k]) for k in (1, 2)], dim=-1).float()


def wrist_errors(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window wrist errors: :func:`camera_errors` of each wrist, averaged over both.

    Args:
        pred, gt: (N, L, 18) wrist features (:func:`wrist_window_features`).
    Returns:
        translation error (N,) in cm and rotation error (N,) in degrees.
    """
    N, L, _ = pred.shape
    split = lambda x: x.reshape(N, L, 2, CAMERA_DIM).transpose(1, 2).reshape(N * 2, L, CAMERA_DIM)  # noqa: E731
    t, r = camera_errors(split(pred), split(gt))
    return t.reshape(N, 2).mean(1), r.reshape(N, 2).mean(1)


def camera_from_features(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L, 9) camera features -> rotations (N, L, 3, 3) and translations (N, L, 3), m,
    relative to the window's first frame (Gram-Schmidt on the 6D part)."""
    return rot6d_to_mat(feat[..., :6]), feat[..., 6:9]


def gaze_features(direction: np.ndarray) -> np.ndarray:
    """(T, 3) unit gaze directions (OpenCV camera frame) -> (T, 2) float32 (yaw, pitch), rad."""
    d = np.asarray(direction, np.float64)
    yaw = np.arctan2(d[:, 0], d[:, 2])
    pitch = np.arctan2(-d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    return np.stack([yaw, pitch], axis=-1).astype(np.float32)


def gaze_from_features(feat: torch.Tensor) -> torch.Tensor:
    """(..., 2) (yaw, pitch) rad -> (..., 3) unit directions, OpenCV camera frame."""
    y, p = feat[..., 0], feat[..., 1]
    return torch.stack([torch.cos(p) * torch.sin(y), -torch.sin(p), torch.cos(p) * torch.cos(y)], dim=-1)


def mpjpe_mm(pred: torch.Tensor, gt: torch.Tensor, root_relative: bool = True) -> torch.Tensor:
    """Mean per-joint position error, mm, per window.

    Args:
        pred, gt: (B, L, J, 3) joints, m, same frame.
        root_relative: subtract each frame's joint 0 (pelvis) first (the usual MPJPE);
            otherwise the error in the shared frame (global / window MPJPE).
    Returns:
        (B,) mean over frames and joints of the Euclidean error, mm.
    """
    if root_relative:
        pred, gt = pred - pred[:, :, :1], gt - gt[:, :, :1]
    return (pred - gt).norm(dim=-1).mean(dim=(1, 2)) * 1000.0


def _geodesic_deg(Ra: torch.Tensor, Rb: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (...) angle of ``Ra^T Rb``, degrees."""
    cos = ((Ra.transpose(-1, -2) @ Rb).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def camera_errors(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window camera errors of relative trajectories.

    Args:
        pred, gt: (N, L, 9) camera features.
    Returns:
        translation error (N,) in cm (mean Euclidean over frames) and rotation error (N,) in
        degrees (mean geodesic angle of ``R_pred^T R_gt``).
    """
    Rp, tp = camera_from_features(pred.double())
    Rg, tg = camera_from_features(gt.double())
    trans = (tp - tg).norm(dim=-1).mean(dim=1) * 100.0
    return trans.float(), _geodesic_deg(Rp, Rg).mean(dim=1).float()


def camera_tracking_errors(pred: torch.Tensor, gt: torch.Tensor, delta: int = int(FPS)) -> dict[str, torch.Tensor]:
    """Per-window camera-tracking errors (EgoM2P's ATE / RTE / RRE, on 2 s windows).

    Both trajectories are relative to the window's first frame (metric, so no alignment):

    - ``ate_m``: absolute trajectory error, RMS over frames of the camera-centre error, m;
    - ``rte_m``: relative translation error, mean over frame pairs (t, t + ``delta``) of the
      error of the translation between them (expressed in the frame at t), m;
    - ``rre_deg``: relative rotation error, mean geodesic angle between predicted and true
      relative rotations ``R_t^T R_{t+delta}``, degrees.

    Args:
        pred, gt: (N, L, 9) camera features (:func:`camera_window_features`).
        delta: frame gap of the relative errors (default 30 = 1 s at 30 Hz; clipped to L - 1).
    Returns:
        dict of (N,) float32.
    """
    Rp, tp = camera_from_features(pred.double())
    Rg, tg = camera_from_features(gt.double())
    ate = ((tp - tg) ** 2).sum(-1).mean(1).sqrt()
    d = max(1, min(delta, pred.shape[1] - 1))
    rel_t = lambda R, t: (R[:, :-d].transpose(-1, -2) @ (t[:, d:] - t[:, :-d])[..., None])[..., 0]  # noqa: E731
    rte = (rel_t(Rp, tp) - rel_t(Rg, tg)).norm(dim=-1).mean(1)
    rel_R = lambda R: R[:, :-d].transpose(-1, -2) @ R[:, d:]  # noqa: E731
    rre = _geodesic_deg(rel_R(Rp), rel_R(Rg)).mean(1)
    return {"ate_m": ate.float(), "rte_m": rte.float(), "rre_deg": rre.float()}


def gaze_angle_deg(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-window mean angle (degrees) between gaze directions of (N, L, 2) yaw / pitch features."""
    a, b = gaze_from_features(pred.double()), gaze_from_features(gt.double())
    return torch.rad2deg(torch.arccos((a * b).sum(-1).clamp(-1, 1))).mean(dim=1).float()
