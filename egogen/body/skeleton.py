"""SMPL-X skeleton: the 55 joints in SMPL-X order, their names and kinematic tree.

Facts of the public SMPL-X layout (22 body joints, jaw, two eyes, 15 joints per hand);
names as the ``smplx`` package reports them (``smplx.joint_names.JOINT_NAMES[:55]``).
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "jaw",
    "left_eye_smplhf",
    "right_eye_smplhf",
    "left_index1",
    "left_index2",
    "left_index3",
    "left_middle1",
    "left_middle2",
    "left_middle3",
    "left_pinky1",
    "left_pinky2",
    "left_pinky3",
    "left_ring1",
    "left_ring2",
    "left_ring3",
    "left_thumb1",
    "left_thumb2",
    "left_thumb3",
    "right_index1",
    "right_index2",
    "right_index3",
    "right_middle1",
    "right_middle2",
    "right_middle3",
    "right_pinky1",
    "right_pinky2",
    "right_pinky3",
    "right_ring1",
    "right_ring2",
    "right_ring3",
    "right_thumb1",
    "right_thumb2",
    "right_thumb3",
)
"""The 55 SMPL-X joint names, index = joint id."""

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7,
    8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    15, 15, 15, 20, 25, 26, 20, 28, 29, 20, 31,
    32, 20, 34, 35, 20, 37, 38, 21, 40, 41, 21,
    43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
"""Parent joint id of each joint (-1 for the pelvis, the root)."""

NUM_JOINTS = len(JOINT_NAMES)
NUM_BODY_JOINTS = 21  # body_pose covers joints 1..21 (pelvis is global_orient)
NUM_HAND_JOINTS = 15
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}


def body_pose_slice(joint: str) -> slice:
    """Slice of a (..., 63) ``body_pose`` axis-angle vector that rotates ``joint``.

    Raises:
        KeyError: if ``joint`` is not one of the 21 body joints (pelvis uses global_orient).
    """
    j = JOINT_INDEX[joint]
    if not 1 <= j <= NUM_BODY_JOINTS:
        raise KeyError(f"{joint!r} is not a body_pose joint (ids 1..21)")
    return slice(3 * (j - 1), 3 * j)


STANDING_ARM_DROP_DEG = 70.0


def standing_body_pose(arm_drop_deg: float = STANDING_ARM_DROP_DEG) -> np.ndarray:
    """(63,) float64 ``body_pose`` of a person standing at ease: the rest pose (SMPL-X's
    T-pose) with both arms lowered by ``arm_drop_deg`` at the shoulders (about the body's
    forward axis), so the hands hang beside the hips instead of reaching 0.65 m sideways into
    whatever stands next to the person. The seed pose of simulated people
    (:func:`egogen.sim.env.standing_markers`) and of the regressor's rest-pose samples.
    """
    bp = np.zeros(63)
    a = np.radians(arm_drop_deg)
    bp[body_pose_slice("left_shoulder")][2] = -a
    bp[body_pose_slice("right_shoulder")][2] = a
    return bp
