"""Data augmentation and splits: left-right mirroring, train / held-out split by clip."""

from __future__ import annotations

import hashlib

import numpy as np

from egogen.body.skeleton import JOINT_INDEX, JOINT_NAMES

__all__ = ["MIRROR_INDEX", "mirror_joints", "mirror_smplx", "split_clips"]


def _mirror_index() -> np.ndarray:
    out = []
    for n in JOINT_NAMES:
        if n.startswith("left_"):
            out.append(JOINT_INDEX["right_" + n[5:]])
        elif n.startswith("right_"):
            out.append(JOINT_INDEX["left_" + n[6:]])
        else:
            out.append(JOINT_INDEX[n])
    return np.asarray(out)


MIRROR_INDEX = _mirror_index()
"""(55,) index of each SMPL-X joint's mirror partner (itself for centre joints)."""
_FLIP = np.diag([-1.0, 1.0, 1.0])  # reflection x -> -x (world YZ plane; canonical sagittal plane)


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """Mirror (..., 55, 3) world joints across the world plane x = 0 and swap left/right.

    A mirrored left turn becomes a right turn. Any vertical mirror plane gives the same motion
    up to a rigid transform, which canonicalisation removes.
    """
    out = joints[..., MIRROR_INDEX, :].copy()
    out[..., 0] *= -1
    return out


def mirror_smplx(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray,
                 rest_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror SMPL-X parameters so that the posed joints equal :func:`mirror_joints` of them.

    Args:
        global_orient: (T, 3) axis-angle; body_pose: (T, 63); transl: (T, 3) metres.
        rest_pelvis: (3,) rest pelvis joint of the body (canonical), needed because the
            posed pelvis is rest_pelvis + transl.
    Returns:
        (global_orient, body_pose, transl) mirrored. Local joint rotations mirror as
        (ax, ay, az) -> (ax, -ay, -az) with left/right swapped; the root as F R F where F
        reflects x (exact for a left-right symmetric rest skeleton).
    """
    from scipy.spatial.transform import Rotation

    T = global_orient.shape[0]
    R = Rotation.from_rotvec(global_orient).as_matrix()
    go = Rotation.from_matrix(_FLIP @ R @ _FLIP).as_rotvec()
    bp = body_pose.reshape(T, 21, 3)
    idx = MIRROR_INDEX[1:22] - 1
    bp = bp[:, idx] * np.array([1.0, -1.0, -1.0])
    pelvis = rest_pelvis + transl
    tr = pelvis * np.array([-1.0, 1.0, 1.0]) - rest_pelvis
    return go, bp.reshape(T, 63), tr


def split_clips(names: list[str], held_out_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic train / held-out split by clip name.

    Each clip is ranked by sha1(f"{seed}:{name}"); the lowest ``round(fraction * n)`` (at least
    one when n >= 2 and fraction > 0) are held out. The split does not depend on list order and
    adding a clip never moves another clip across unless it enters the held-out count. Mirrored
    or otherwise augmented copies must be made after the split, from their source clip's side.
    Returns:
        (train, held_out) sorted lists of names.
    Raises:
        ValueError: on duplicate names or a fraction outside [0, 1).
    """
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    if len(set(names)) != len(names):
        raise ValueError("duplicate clip names; clip names must be unique to split by clip")
    ranked = sorted(names, key=lambda n: hashlib.sha1(f"{seed}:{n}".encode()).hexdigest())
    k = int(round(held_out_fraction * len(names)))
    if held_out_fraction > 0 and len(names) >= 2:
        k = max(k, 1)
    return sorted(ranked[k:]), sorted(ranked[:k])
