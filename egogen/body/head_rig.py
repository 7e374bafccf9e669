"""The head-mounted camera: ``T_world_camera`` of a posed SMPL-X body.

The camera is rigid to the head joint. At rest (all rotations zero) SMPL-X's head looks
along the canonical +z axis with +y up, so the OpenCV camera (x right, y down, z forward)
has axes x = -x_c, y = -y_c, z = +z_c in the head's frame (:data:`R_HEAD_CAMERA`). Its
centre is the midpoint of the two eye joints plus the rig's mount offset (in camera axes).
"""

from __future__ import annotations

import numpy as np

from egogen.body.kinematics import smplx_local_rotations
from egogen.body.skeleton import JOINT_INDEX, PARENTS

R_HEAD_CAMERA = np.diag([-1.0, -1.0, 1.0])
"""(3, 3) rotation from the OpenCV camera frame to the head joint's frame."""

_HEAD_CHAIN: list[int] = []
_j = JOINT_INDEX["head"]
while _j >= 0:
    _HEAD_CHAIN.insert(0, _j)
    _j = PARENTS[_j]


def head_rotation(global_orient, body_pose) -> np.ndarray:
    """World rotation of the head joint's frame.

    Args:
        global_orient: (B, 3) axis-angle of the pelvis, radians (numpy or torch).
        body_pose: (B, 63) axis-angle of joints 1..21 relative to their parents, radians.
    Returns:
        (B, 3, 3) float64 rotation from the head's frame to the frame the body parameters
        are expressed in (the world, for world-frame parameters).
    """
    go = np.asarray(_numpy(global_orient), dtype=np.float64).reshape(-1, 3)
    bp = np.asarray(_numpy(body_pose), dtype=np.float64).reshape(len(go), 63)
    local = smplx_local_rotations(go, bp)
    R = local[:, _HEAD_CHAIN[0]]
    for j in _HEAD_CHAIN[1:]:
        R = R @ local[:, j]
    return R


def head_camera_pose(joints, global_orient, body_pose, mount_offset_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """``T_world_camera`` (camera -> world) of the head-mounted camera.

    Args:
        joints: (B, >=55, 3) posed joints from ``BodyModel(...)`` (world frame if the body
            parameters are world-frame), metres; numpy or torch.
        global_orient, body_pose: the (B, 3) and (B, 63) axis-angle parameters that posed them.
        mount_offset_m: (3,) camera centre relative to the eye midpoint, in camera axes
            (``RigPreset.mount_offset_m``), metres.
    Returns:
        (B, 4, 4) float64 rigid transforms, OpenCV camera convention.
    """
    R = head_rotation(global_orient, body_pose) @ R_HEAD_CAMERA
    J = np.asarray(_numpy(joints), dtype=np.float64)
    eyes = 0.5 * (J[:, JOINT_INDEX["left_eye_smplhf"]] + J[:, JOINT_INDEX["right_eye_smplhf"]])
    T = np.tile(np.eye(4), (R.shape[0], 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = eyes + R @ np.asarray(mount_offset_m, dtype=np.float64)
    return T


def _numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x
