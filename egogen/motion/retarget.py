"""Retarget mocap joints onto an SMPL-X skeleton: parameters per frame, feet on the floor.

Method (bone-direction fitting, in the spirit of the position-based retargeters used for
AMASS/HumanML3D-style pipelines; no paper-specific source):

1. Scale: the source is scaled by ``s`` = target leg length / source leg length (hip-knee-ankle),
   so the pelvis path and step lengths fit the body.
2. Rotations, root to leaves: a joint with >= 2 mapped children gets the rotation that best
   maps its rest child bones onto the source child directions (Kabsch); a joint with one
   mapped child gets the minimal swing that points that bone along the source direction,
   applied to a twist guess taken from the source joint's own rotation (calibrated on a
   reference frame) or, without it, from the parent; a joint without mapped children (head,
   feet) follows the source joint's rotation, calibrated the same way, or its parent.
3. Translation: the pelvis follows the scaled source pelvis; one vertical shift per clip puts
   the lowest sole point of the clip on z = 0 (no penetration; floating is reported).

Body joints keep the source bone directions exactly wherever a joint has a single child;
error remains only where one rotation must serve several children (pelvis, spine3, wrists).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from egogen.body.skeleton import JOINT_NAMES
from egogen.body.kinematics import smplx_fk
from egogen.motion.mocap import Y_UP_TO_Z_UP
from egogen.motion.physical import CONTACT_HEIGHT  # a foot lower than this is in contact (DIMOS)
from egogen.rotations import kabsch, mat_to_aa, normalize, swing

__all__ = ["RetargetResult", "retarget", "foot_metrics", "DEFAULT_SOLE_OFFSET", "FOOT_JOINTS"]

DEFAULT_SOLE_OFFSET = 0.03
"""Assumed height (m) of the lower rest foot joint above the sole when no rest mesh is given."""
FOOT_JOINTS = {"left": (7, 10), "right": (8, 11)}  # (ankle, foot/toe-ball) SMPL-X ids
BODY = slice(0, 22)


@dataclass
class RetargetResult:
    """SMPL-X parameters per frame (as ``smplx.SMPLX.forward`` takes them) and quality report.

    Attributes:
        global_orient: (T, 3) axis-angle, body canonical (Y-up) -> world (Z-up).
        body_pose: (T, 63) axis-angle of joints 1..21 relative to their parents.
        left_hand_pose, right_hand_pose: (T, 45) axis-angle (zeros where the source has no
            fingers).
        transl: (T, 3) metres; posed pelvis = rest pelvis + transl.
        joints: (T, 55, 3) posed world joints, metres, Z up, floor z = 0.
        scale: source-to-body scale factor applied.
        report: figures (see :func:`retarget`).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    scale: float
    report: dict = field(default_factory=dict)


def _leg_length(j: np.ndarray) -> float:
    return float(np.mean([np.linalg.norm(j[1] - j[4]) + np.linalg.norm(j[4] - j[7]),
                          np.linalg.norm(j[2] - j[5]) + np.linalg.norm(j[5] - j[8])]))


def _multi_child_vectors(P, rest, j, ch):
    """Reference (K, 3) and target (T, K, 3) unit vectors that fix a multi-child joint.

    A left/right pair of children (hips, collars) contributes their difference (the lateral
    axis, robust to rigs placing hips lower or higher); other children their bone direction.
    """
    names = {c: JOINT_NAMES[c] for c in ch}
    pairs, single = [], []
    for c in ch:
        n = names[c]
        if n.startswith("left_") and ("right_" + n[5:]) in names.values():
            r = next(k for k, v in names.items() if v == "right_" + n[5:])
            pairs.append((c, r))
        elif not (n.startswith("right_") and ("left_" + n[6:]) in names.values()):
            single.append(c)
    b = [rest[l] - rest[r] for l, r in pairs] + [rest[c] - rest[j] for c in single]
    d = [P[:, l] - P[:, r] for l, r in pairs] + [P[:, c] - P[:, j] for c in single]
    return normalize(np.stack(b)), normalize(np.stack(d, axis=1))


def _solve(P, rest, parents, valid, children, Gsrc=None, A=None):
    """Global rotations (T, J, 3, 3) body-canonical -> world for targets P (T, J, 3)."""
    T, J = P.shape[:2]
    G = np.empty((T, J, 3, 3))
    for j in range(J):
        p = parents[j]
        guess = np.broadcast_to(Y_UP_TO_Z_UP, (T, 3, 3)) if p < 0 else G[:, p]
        if Gsrc is not None and A[j] is not None:
            guess = Gsrc[:, j] @ A[j]
        ch = children[j]
        if len(ch) >= 2:
            b, d = _multi_child_vectors(P, rest, j, ch)
            G[:, j] = kabsch(d, b)
        elif len(ch) == 1:
            c = ch[0]
            u = guess @ (rest[c] - rest[j])
            G[:, j] = swing(u, P[:, c] - P[:, j]) @ guess
        else:
            G[:, j] = guess
    return G


def foot_metrics(joints: np.ndarray, fps: float, sole_heights: np.ndarray) -> dict:
    """Floor contact figures of posed SMPL-X joints.

    Args:
        joints: (T, 55, 3) metres, Z up, floor z = 0.
        fps: frame rate, Hz.
        sole_heights: (55,) rest height of each joint above the sole (used for foot joints).
    Returns:
        dict: ``skating_cm_s`` mean horizontal speed of the lowest foot joint while that foot
        is in contact (lowest sole point < 5 cm), ``penetration_mm`` deepest sole point below
        z = 0, ``float_mm`` mean lowest sole height over frames where some foot is in contact,
        ``contact_fraction``.
    """
    speeds, lows = [], []
    low_all = np.full(joints.shape[0], np.inf)
    for ankle, toe in FOOT_JOINTS.values():
        h = np.stack([joints[:, ankle, 2] - sole_heights[ankle], joints[:, toe, 2] - sole_heights[toe]], 1)
        low = h.min(1)
        low_all = np.minimum(low_all, low)
        which = np.where(h[:, 0] <= h[:, 1], ankle, toe)
        v = np.linalg.norm(np.diff(joints[:, [ankle, toe], :2], axis=0), axis=-1) * fps  # (T-1, 2)
        v = np.where((which[1:] == ankle), v[:, 0], v[:, 1])
        contact = (low[1:] < CONTACT_HEIGHT) & (low[:-1] < CONTACT_HEIGHT)
        speeds.append(v[contact])
        lows.append(low)
    sp = np.concatenate(speeds)
    in_contact = low_all < CONTACT_HEIGHT
    return {
        "skating_cm_s": float(sp.mean() * 100) if sp.size else 0.0,
        "penetration_mm": float(max(0.0, -low_all.min()) * 1000),
        "float_mm": float(low_all[in_contact].mean() * 1000) if in_contact.any() else float("nan"),
        "contact_fraction": float(in_contact.mean()),
    }


def retarget(
    joints: np.ndarray,
    rest_joints: np.ndarray,
    parents: np.ndarray,
    fps: float,
    rotations: np.ndarray | None = None,
    ref_frame: int = 0,
    rest_vertices: np.ndarray | None = None,
    sole_offset: float = DEFAULT_SOLE_OFFSET,
    scale: float | None = None,
) -> RetargetResult:
    """Fit SMPL-X pose parameters so the body's bones follow the source joints.

    Args:
        joints: (T, 55, 3) source positions of the SMPL-X joints, metres, world Z up (e.g.
            :attr:`MocapClip.joints`); NaN rows for joints the source lacks. The 22 body joints
            (pelvis .. right_wrist) are required.
        rest_joints: (55, 3) rest joints of the target body, SMPL-X canonical (Y up, facing +Z,
            T-pose), metres - e.g. the body model's joints at zero pose for its betas.
        parents: (55,) SMPL-X parent ids (:data:`egogen.body.skeleton.PARENTS`).
        fps: frame rate of ``joints`` (for skating speeds), Hz.
        rotations: (T, 55, 3, 3) optional world rotations of the mapped source joints (NaN where
            none); they supply the bone twist and the head/foot orientation.
        ref_frame: frame where source orientations are calibrated (a neutral standing pose).
        rest_vertices: (V, 3) optional rest mesh of the body (same frame as ``rest_joints``);
            its lowest point defines the sole. Without it the sole is ``sole_offset`` below the
            lower rest foot joint.
        sole_offset: metres, see ``rest_vertices``.
        scale: source-to-body scale; default target / source leg length.
    Returns:
        :class:`RetargetResult`; ``report`` holds ``mpjpe_chain_mm`` / ``max_joint_err_chain_mm``
        (body joints vs the source with each chain bone scaled to the body's length, chains
        restarting below multi-child joints - measures how well bone directions are kept),
        ``mpjpe_uniform_scaled_mm`` (vs the source scaled by ``scale``, pelvis-aligned; includes
        the rigs' proportion differences), ``chain_bone_dir_err_deg_max``,
        ``bone_dir_err_deg_mean/max`` (all 21 body bones; bones below the pelvis and spine3
        keep the body's own rest angles), and :func:`foot_metrics` for the result and for the
        scaled source (``source_*``, contact heights from the source's own 2nd percentile).
    Raises:
        ValueError: on wrong shapes or missing body joints.
    """
    joints = np.asarray(joints, dtype=np.float64)
    rest = np.asarray(rest_joints, dtype=np.float64)
    parents = np.asarray(parents, dtype=np.int64)
    if joints.ndim != 3 or joints.shape[1:] != (55, 3) or rest.shape != (55, 3):
        raise ValueError(f"expected joints (T, 55, 3) and rest_joints (55, 3), got {joints.shape}, {rest.shape}")
    valid = np.isfinite(joints).all(axis=(0, 2))
    if not valid[BODY].all():
        raise ValueError(f"body joints without source positions: {np.flatnonzero(~valid[BODY]).tolist()}; "
                         "the naming scheme must map all 22 body joints")
    T = joints.shape[0]
    children = [[c for c in range(55) if parents[c] == j and valid[c]] for j in range(55)]

    s = scale if scale is not None else _leg_length(rest) / _leg_length(joints[ref_frame])
    P = joints * s

    # calibrate source orientations on the reference frame
    A: list[np.ndarray | None] = [None] * 55
    Gsrc = None
    if rotations is not None:
        rv = np.isfinite(rotations).all(axis=(0, 2, 3))
        use = [j for j in range(55) if rv[j] and valid[j] and len(children[j]) <= 1]
        if use:
            Gref = _solve(P[ref_frame:ref_frame + 1], rest, parents, valid, children)[0]
            Gsrc = np.where(np.isfinite(rotations), rotations, 0.0)
            for j in use:
                A[j] = Gsrc[ref_frame, j].T @ Gref[j]
    G = _solve(P, rest, parents, valid, children, Gsrc, A)

    local = np.empty_like(G)
    local[:, 0] = G[:, 0]
    for j in range(1, 55):
        local[:, j] = np.swapaxes(G[:, parents[j]], -1, -2) @ G[:, j]

    # sole heights of joints above the floor in the rest pose
    up = rest[:, 1]
    sole = rest_vertices[:, 1].min() if rest_vertices is not None else (
        min(up[i] for f in FOOT_JOINTS.values() for i in f) - sole_offset)
    sole_h = up - sole

    transl = P[:, 0] - rest[0]
    posed, _ = smplx_fk(local, transl, rest, parents)
    feet = [i for f in FOOT_JOINTS.values() for i in f]
    lowest = (posed[:, feet, 2] - sole_h[feet]).min()
    transl[:, 2] -= lowest
    posed[..., 2] -= lowest

    # reference: source with every chain bone scaled to the body's length; chains restart at
    # the body's own joints below multi-child joints (pelvis -> hips/spine, spine3 -> collars/
    # neck), whose rest angles differ between rigs by construction.
    ref = np.empty((T, 22, 3))
    ref[:, 0] = posed[:, 0]
    chain = np.zeros(22, dtype=bool)
    for j in range(1, 22):
        p = parents[j]
        if len(children[p]) >= 2:
            ref[:, j] = posed[:, j]
        else:
            chain[j] = True
            ref[:, j] = ref[:, p] + np.linalg.norm(rest[j] - rest[p]) * normalize(P[:, j] - P[:, p])
    err = np.linalg.norm(posed[:, BODY] - ref, axis=-1)
    uni = P[:, BODY] - P[:, :1] + posed[:, :1]
    err_u = np.linalg.norm(posed[:, BODY] - uni, axis=-1)
    bones = np.arange(1, 22)
    cosang = np.einsum("tki,tki->tk", normalize(posed[:, bones] - posed[:, parents[bones]]),
                       normalize(P[:, bones] - P[:, parents[bones]]))
    ang = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    ang_chain = ang[:, chain[1:]]

    src = P.copy()
    src[..., 2] -= lowest
    src[..., :2] += posed[:, :1, :2] - P[:, :1, :2]
    fm = foot_metrics(posed, fps, sole_h)
    src_sole = np.percentile(src[..., 2], 2, axis=0)  # source's own contact height per joint
    fs = foot_metrics(src, fps, np.nan_to_num(src_sole))
    report = {
        "frames": T,
        "scale": float(s),
        "mpjpe_chain_mm": float(err.mean() * 1000),
        "max_joint_err_chain_mm": float(err.max() * 1000),
        "mpjpe_uniform_scaled_mm": float(err_u.mean() * 1000),
        "chain_bone_dir_err_deg_max": float(ang_chain.max()),
        "bone_dir_err_deg_mean": float(ang.mean()),
        "bone_dir_err_deg_max": float(ang.max()),
        **fm,
        **{f"source_{k}": v for k, v in fs.items()},
    }
    aa = mat_to_aa(local)
    return RetargetResult(
        global_orient=aa[:, 0],
        body_pose=aa[:, 1:22].reshape(T, 63),
        left_hand_pose=aa[:, 25:40].reshape(T, 45),
        right_hand_pose=aa[:, 40:55].reshape(T, 45),
        transl=transl,
        joints=posed,
        scale=float(s),
        report=report,
    )
