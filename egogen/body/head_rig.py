"""The head-mounted camera: ``T_world_camera`` of a posed SMPL-X body.

The camera is rigid to the head joint. At rest (all rotations zero) SMPL-X's head looks
along the canonical +z axis with +y up, so the OpenCV camera (x right, y down, z forward)
has axes x = -x_c, y = -y_c, z = +z_c in the head's frame (:data:`R_HEAD_CAMERA`). Its
centre is the midpoint of the two eye joints plus the rig's mount offset (in camera axes).
"""

from __future__ import annotations

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from egogen.body.skeleton import JOINT_INDEX, NUM_BODY_JOINTS

R_HEAD_CAMERA = np.diag([-1.0, -1.0, 1.0])
"""(3, 3) rotation from the OpenCV camera frame to the head joint's frame."""


def global_rotations(global_orient: torch.Tensor, body_pose: torch.Tensor,
                     parents: torch.Tensor) -> torch.Tensor:
    """World rotations of the 22 body joints (pelvis .. right wrist).

    Args:
        global_orient: (B, 3) axis-angle of the pelvis, radians.
        body_pose: (B, 63) axis-angle of joints 1..21, radians, each relative to its parent.
        parents: (>=22,) parent ids in SMPL-X order (``BodyModel.parents``).
    Returns:
        (B, 22, 3, 3) rotation of each joint's frame relative to the model's canonical frame
        (the same frame ``smplx`` returns vertices in).
    """
    B = global_orient.shape[0]
    aa = torch.cat([global_orient.reshape(B, 1, 3), body_pose.reshape(B, NUM_BODY_JOINTS, 3)], dim=1)
    local = batch_rodrigues(aa.reshape(-1, 3)).reshape(B, NUM_BODY_JOINTS + 1, 3, 3)
    out = [local[:, 0]]
    for j in range(1, NUM_BODY_JOINTS + 1):
        out.append(out[int(parents[j])] @ local[:, j])
    return torch.stack(out, dim=1)


def head_camera_pose(joints: torch.Tensor, global_orient: torch.Tensor, body_pose: torch.Tensor,
                     parents: torch.Tensor, mount_offset_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """``T_world_camera`` (camera -> world) of the head-mounted camera.

    Args:
        joints: (B, >=55, 3) posed joints from ``BodyModel(...)`` (world frame if the body
            parameters are world-frame), metres.
        global_orient, body_pose: the (B, 3) and (B, 63) axis-angle parameters that posed them.
        parents: SMPL-X parent ids (``BodyModel.parents``).
        mount_offset_m: (3,) camera centre relative to the eye midpoint, in camera axes
            (``RigPreset.mount_offset_m``), metres.
    Returns:
        (B, 4, 4) float64 rigid transforms, OpenCV camera convention.
    """
    R_head = global_rotations(global_orient, body_pose, parents)[:, JOINT_INDEX["head"]]
    R = R_head.detach().double().cpu().numpy() @ R_HEAD_CAMERA
    eyes = 0.5 * (joints[:, JOINT_INDEX["left_eye_smplhf"]] + joints[:, JOINT_INDEX["right_eye_smplhf"]])
    t = eyes.detach().double().cpu().numpy() + R @ np.asarray(mount_offset_m, dtype=np.float64)
    T = np.tile(np.eye(4), (R.shape[0], 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    return T
