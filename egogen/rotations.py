"""Small batched rotation helpers shared by every stage (numpy; scipy for conversions)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["normalize", "swing", "kabsch", "mat_to_aa", "aa_to_mat"]


def normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Unit vectors along the last axis; zero vectors stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Minimal rotations taking directions ``u`` to ``v``.

    Args:
        u, v: (N, 3) directions (need not be unit).
    Returns:
        (N, 3, 3) rotation matrices R with R @ u_hat = v_hat; for opposite vectors a
        180-degree turn about an axis perpendicular to u.
    """
    u, v = normalize(u), normalize(v)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1)
    c = np.einsum("ni,ni->n", u, v)
    angle = np.arctan2(s, c)
    small = s < 1e-9
    if small.any():
        # parallel (angle 0, any axis) or antiparallel (angle pi, axis perpendicular to u)
        perp = np.cross(u[small], np.array([1.0, 0.0, 0.0]))
        alt = np.cross(u[small], np.array([0.0, 1.0, 0.0]))
        bad = np.linalg.norm(perp, axis=-1) < 1e-6
        perp[bad] = alt[bad]
        axis[small] = perp
    return Rotation.from_rotvec(normalize(axis) * angle[:, None]).as_matrix()


def kabsch(d: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Rotations best mapping reference directions ``b`` onto target directions ``d``.

    Minimises sum_k w_k |R b_k - d_k|^2 over proper rotations (Kabsch / Wahba).

    Args:
        d: (N, K, 3) target vectors per item; b: (K, 3) reference vectors; w: (K,) weights.
    Returns:
        (N, 3, 3) rotation matrices (det = +1).
    """
    w = np.ones(b.shape[0]) if w is None else w
    H = np.einsum("k,ki,nkj->nij", w, b, d)  # sum_k w b d^T
    U, _, Vt = np.linalg.svd(H)
    V = np.swapaxes(Vt, -1, -2)
    det = np.linalg.det(V @ np.swapaxes(U, -1, -2))
    D = np.broadcast_to(np.eye(3), H.shape).copy()
    D[:, 2, 2] = np.sign(det)
    return V @ D @ np.swapaxes(U, -1, -2)


def mat_to_aa(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle (radians)."""
    shape = R.shape[:-2]
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(shape + (3,))


def aa_to_mat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices."""
    shape = aa.shape[:-1]
    return Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(shape + (3, 3))
