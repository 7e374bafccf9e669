"""Test helpers for the motion tests: a synthetic SMPL-X-like rest skeleton.

Approximate SMPL-X neutral proportions (canonical frame: Y up, facing +Z, left = +X, metres,
T-pose); built here so the tests need no body model files.
"""

from __future__ import annotations

import numpy as np

from egogen.body.skeleton import JOINT_INDEX, PARENTS

_LEFT = {
    "hip": (0.06, -0.09, 0.0), "knee": (0.11, -0.47, 0.0), "ankle": (0.09, -0.86, -0.04),
    "foot": (0.12, -0.90, 0.08), "collar": (0.07, 0.41, -0.01), "shoulder": (0.17, 0.44, -0.02),
    "elbow": (0.42, 0.43, -0.03), "wrist": (0.67, 0.43, -0.02), "eye_smplhf": (0.03, 0.66, 0.09),
}
_FINGER_ROOT = {"index": (0.77, 0.03), "middle": (0.78, 0.0), "ring": (0.77, -0.025),
                "pinky": (0.75, -0.05), "thumb": (0.70, 0.04)}


def smplx_like_rest(scale: float = 1.0) -> np.ndarray:
    """(55, 3) float64 rest joints of an SMPL-X-like body, canonical Y-up T-pose."""
    J = np.zeros((55, 3))
    centre = {"pelvis": (0, 0, 0), "spine1": (0, 0.11, -0.02), "spine2": (0, 0.24, 0.0),
              "spine3": (0, 0.30, 0.02), "neck": (0, 0.50, -0.02), "head": (0, 0.58, 0.03),
              "jaw": (0, 0.60, 0.07)}
    for n, v in centre.items():
        J[JOINT_INDEX[n]] = v
    for n, (x, y, z) in _LEFT.items():
        ln = "left_eye_smplhf" if n == "eye_smplhf" else f"left_{n}"
        rn = "right_eye_smplhf" if n == "eye_smplhf" else f"right_{n}"
        J[JOINT_INDEX[ln]] = (x, y, z)
        J[JOINT_INDEX[rn]] = (-x, y, z)
    for f, (x, z) in _FINGER_ROOT.items():
        for k, dx in ((1, 0.0), (2, 0.035), (3, 0.06)):
            J[JOINT_INDEX[f"left_{f}{k}"]] = (x + dx, 0.43 if f != "thumb" else 0.41, z)
            J[JOINT_INDEX[f"right_{f}{k}"]] = (-(x + dx), 0.43 if f != "thumb" else 0.41, z)
    return J * scale


PARENTS_NP = np.asarray(PARENTS)
