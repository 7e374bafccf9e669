"""SMPL-X joint forward kinematics from parameters (numpy, no body model needed).

Gives the same joint positions as ``smplx.SMPLX.forward(...).joints[:, :55]`` for a body whose
rest (shaped, unposed) joints are ``rest_joints``, without pose correctives (which do not move
joints): the root rotates about its rest position, every other joint about its parent.
"""

from __future__ import annotations

import numpy as np

from egogen.rotations import aa_to_mat

__all__ = ["smplx_local_rotations", "smplx_fk"]


def smplx_local_rotations(
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    left_hand_pose: np.ndarray | None = None,
    right_hand_pose: np.ndarray | None = None,
) -> np.ndarray:
    """Stack SMPL-X axis-angle parameters into (T, 55, 3, 3) local rotation matrices.

    Args:
        global_orient: (T, 3); body_pose: (T, 63); hand poses: (T, 45) each or None (zero).
        Jaw and eyes are left at identity.
    """
    T = global_orient.shape[0]
    aa = np.zeros((T, 55, 3))
    aa[:, 0] = global_orient
    aa[:, 1:22] = body_pose.reshape(T, 21, 3)
    if left_hand_pose is not None:
        aa[:, 25:40] = left_hand_pose.reshape(T, 15, 3)
    if right_hand_pose is not None:
        aa[:, 40:55] = right_hand_pose.reshape(T, 15, 3)
    return aa_to_mat(aa)


def smplx_fk(
    local_rot: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posed world joints of an SMPL-X skeleton.

    Args:
        local_rot: (T, J, 3, 3) local rotations (root's = global_orient).
        transl: (T, 3) SMPL-X ``transl``, metres.
        rest_joints: (J, 3) rest joints of the shaped body in SMPL-X canonical coordinates.
        parents: (J,) parent ids, parents before children, -1 for the root.
    Returns:
        joints: (T, J, 3) posed positions (root = rest_joints[0] + transl);
        global_rot: (T, J, 3, 3).
    """
    T, J = local_rot.shape[:2]
    G = np.empty_like(local_rot)
    P = np.empty((T, J, 3))
    for j in range(J):
        p = parents[j]
        if p < 0:
            G[:, j] = local_rot[:, j]
            P[:, j] = rest_joints[j] + transl
        else:
            G[:, j] = G[:, p] @ local_rot[:, j]
            P[:, j] = P[:, p] + G[:, p] @ (rest_joints[j] - rest_joints[p])
    return P, G
