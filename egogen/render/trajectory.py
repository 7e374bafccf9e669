"""Compare a recovered camera trajectory with the ground truth: similarity alignment
(Umeyama) and absolute trajectory error (ATE).

Used by ``benchmarks/bench_colmap_ate.py``, which runs COLMAP structure-from-motion on
rendered frames: SfM recovers poses up to an unknown similarity (rotation, translation,
scale), so the recovered camera centres are aligned to the true ones before the error is
measured, as in the TUM RGB-D benchmark (Sturm et al., IROS 2012).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egogen.rotations import kabsch


@dataclass(frozen=True)
class Similarity:
    """``y = s R x + t``.

    Attributes:
        s: scale (> 0).
        R: (3, 3) float64 rotation (det +1).
        t: (3,) float64 translation, in the units of the target points.
    """

    s: float
    R: np.ndarray
    t: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(..., 3) points mapped by the transform."""
        return self.s * np.asarray(x, dtype=np.float64) @ self.R.T + self.t

    def matrix(self) -> np.ndarray:
        """(4, 4) float64 homogeneous matrix [[s R, t], [0, 1]]."""
        M = np.eye(4)
        M[:3, :3] = self.s * self.R
        M[:3, 3] = self.t
        return M


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> Similarity:
    """Least-squares similarity transform taking ``src`` onto ``dst`` (Umeyama, TPAMI 1991).

    Minimises sum_i |dst_i - (s R src_i + t)|^2 over rotations R (det +1, reflections
    excluded), translations t and, if ``with_scale``, scales s > 0 (else s = 1).

    Args:
        src: (N, 3) points, e.g. camera centres recovered by SfM (arbitrary frame and scale).
        dst: (N, 3) corresponding points, e.g. ground-truth camera centres (world, metres).
        with_scale: estimate the scale (SfM, monocular SLAM); False for a rigid fit.
    Returns:
        the :class:`Similarity`.
    Raises:
        ValueError: shapes differ or are not (N, 3), N < 3, non-finite values, or ``src``
            has all its points at one place (no scale or rotation can be fitted).
    """
    x = np.asarray(src, dtype=np.float64)
    y = np.asarray(dst, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape != y.shape:
        raise ValueError(f"src and dst must both be (N, 3), got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"a similarity transform needs at least 3 point pairs, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("src and dst must be finite")
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x = float((xc ** 2).sum() / len(x))
    if var_x <= 1e-24:
        raise ValueError("the source points coincide: no transform can be fitted")
    R = kabsch(yc[None], xc)[0]  # the rotation of Umeyama's eq. (40): R xc_i ~ yc_i
    s = float((yc * (xc @ R.T)).sum() / len(x) / var_x) if with_scale else 1.0  # eq. (42): tr(DS) / var
    t = my - s * R @ mx
    return Similarity(s, R, t)


def ate(estimated: np.ndarray, truth: np.ndarray, with_scale: bool = True) -> tuple[float, Similarity, np.ndarray]:
    """Absolute trajectory error after aligning ``estimated`` onto ``truth`` (:func:`umeyama`).

    Args:
        estimated: (N, 3) estimated camera centres (any frame and scale).
        truth: (N, 3) true camera centres of the same frames, metres.
        with_scale: align with a similarity (True, for SfM) or a rigid transform.
    Returns:
        (RMSE of the aligned position errors in the units of ``truth``, the alignment,
        (N,) per-frame position errors).
    Raises:
        ValueError: as :func:`umeyama`.
    """
    T = umeyama(estimated, truth, with_scale)
    err = np.linalg.norm(T.apply(estimated) - np.asarray(truth, dtype=np.float64), axis=1)
    return float(np.sqrt(np.mean(err ** 2))), T, err


def fit_rotation(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:
    """The rotation A minimising sum_i |R_true_i - A R_est_i|_F^2 (chordal mean of
    R_true_i R_est_i^T, projected onto SO(3)).

    Args:
        R_est: (N, 3, 3) estimated camera -> world rotations in the estimate's frame.
        R_true: (N, 3, 3) true camera -> world rotations.
    Returns:
        (3, 3) float64 rotation from the estimate's frame to the true one.
    Raises:
        ValueError: shapes differ or N < 1.
    """
    Re, Rt = np.asarray(R_est, dtype=np.float64), np.asarray(R_true, dtype=np.float64)
    if Re.shape != Rt.shape or Re.ndim != 3 or Re.shape[1:] != (3, 3) or len(Re) < 1:
        raise ValueError(f"R_est and R_true must both be (N, 3, 3) with N >= 1, got {Re.shape} and {Rt.shape}")
    # A maps every column of R_est_i onto the same column of R_true_i (Kabsch over 3N vectors)
    return kabsch(Rt.transpose(0, 2, 1).reshape(1, -1, 3), Re.transpose(0, 2, 1).reshape(-1, 3))[0]


def rotation_errors_deg(R_est: np.ndarray, R_true: np.ndarray, R_align: np.ndarray | None = None) -> np.ndarray:
    """Angles between aligned estimated and true camera orientations.

    Args:
        R_est: (N, 3, 3) estimated camera -> world rotations in the estimate's frame.
        R_true: (N, 3, 3) true camera -> world rotations (``T_world_camera[:, :3, :3]``).
        R_align: (3, 3) rotation from the estimate's frame to the true one (e.g. the ``R``
            of :func:`ate`'s alignment); None fits it to the orientations
            (:func:`fit_rotation`), which is better determined than the position fit when
            the path is nearly straight.
    Returns:
        (N,) float64 angles of ``R_true^T (R_align R_est)``, degrees.
    """
    from scipy.spatial.transform import Rotation

    A = fit_rotation(R_est, R_true) if R_align is None else np.asarray(R_align, dtype=np.float64)
    Ra = np.einsum("ij,njk->nik", A, np.asarray(R_est, dtype=np.float64))
    D = np.einsum("nji,njk->nik", np.asarray(R_true, dtype=np.float64), Ra)
    return np.degrees(Rotation.from_matrix(D).magnitude())
