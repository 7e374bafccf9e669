"""Source skeleton naming schemes and their mapping onto SMPL-X joints: data, in one place.

Each :class:`NamingScheme` says how to read one family of mocap files (units, which frame is a
reference pose, which joint names identify it) and where each SMPL-X joint lies on that
skeleton. A mapping entry is either a source joint name (the SMPL-X joint sits at that joint)
or ``(a, b, t)``: the point ``(1 - t) * a + t * b`` on the segment between two source joints,
for SMPL-X joints the source has no joint for (e.g. CMU has no ``spine3``). Every scheme must
map all 22 body joints (pelvis .. right_wrist); hands and face are optional.

To support a new rig, add a scheme to :data:`SCHEMES` (see docs/motion.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from egogen.body.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_BODY_JOINTS

__all__ = [
    "MapEntry", "NamingScheme", "SCHEMES", "UnknownSkeletonError", "detect_scheme",
    "CMU_60FPS_SUBJECTS", "CMU_60FPS_TRIALS", "cmu_true_fps",
]

MapEntry = str | tuple[str, str, float]

CMU_UNIT_M = 0.0564444
"""Metres per CMU ASF length unit ((1 / 0.45) * 2.54 / 100, CMU FAQ); cgspeed BVH keep it."""

CMU_60FPS_SUBJECTS: frozenset[int] = frozenset(
    {33, 34, 42, 60, 61, 62, 74, 75, 77, 79, 80, 87, 88, 89}
)
"""CMU subjects captured at 60 fps although cgspeed BVH headers say 120 fps (CMU index, via
../shared/mocap/README.md)."""
CMU_60FPS_TRIALS: frozenset[tuple[int, int]] = frozenset({(136, 19)})


@dataclass(frozen=True)
class NamingScheme:
    """How to read one rig family and where the SMPL-X joints lie on it.

    Attributes:
        name: short id ("cmu_mb", "cmu_max", "cc").
        description: human-readable origin of the files.
        unit_m: metres per file length unit.
        up_axis: the file's up axis ("y"); converted to egogen's Z-up world on load.
        has_reference_frame: True if frame 0 is a converter-added reference pose to drop.
        reference_is_tpose: True if that reference frame is a T-pose usable as rest pose.
        header_fps_trusted: False if the true rate must be looked up (CMU 60 fps trap).
        signature: joint names that must all be present for :func:`detect_scheme`.
        joint_map: SMPL-X joint name -> :data:`MapEntry`.
        orientation_joints: SMPL-X joint -> source joint whose rotation gives its twist /
            orientation where bone directions leave it free (head, wrists, ...).
    """

    name: str
    description: str
    unit_m: float
    up_axis: str
    has_reference_frame: bool
    reference_is_tpose: bool
    header_fps_trusted: bool
    signature: tuple[str, ...]
    joint_map: dict[str, MapEntry]
    orientation_joints: dict[str, str] = field(default_factory=dict)

    def source_joints(self) -> set[str]:
        """Every source joint name the mapping reads."""
        out: set[str] = set(self.orientation_joints.values())
        for e in self.joint_map.values():
            out.update([e] if isinstance(e, str) else [e[0], e[1]])
        return out

    def map_positions(self, names: tuple[str, ...], positions: np.ndarray) -> np.ndarray:
        """Source joint positions -> positions of SMPL-X joints.

        Args:
            names: (J,) source joint names (file order).
            positions: (..., J, 3) source joint positions, any unit/frame.
        Returns:
            (..., 55, 3) float64 in the same unit/frame; NaN for unmapped SMPL-X joints.
        Raises:
            KeyError: if a joint the mapping needs is missing from ``names``.
        """
        idx = {n: i for i, n in enumerate(names)}
        missing = sorted(self.source_joints() - idx.keys())
        if missing:
            raise KeyError(f"scheme {self.name!r}: source joints missing from the file: {missing}")
        out = np.full(positions.shape[:-2] + (len(JOINT_NAMES), 3), np.nan)
        for smplx_name, e in self.joint_map.items():
            j = JOINT_INDEX[smplx_name]
            if isinstance(e, str):
                out[..., j, :] = positions[..., idx[e], :]
            else:
                a, b, t = e
                out[..., j, :] = (1 - t) * positions[..., idx[a], :] + t * positions[..., idx[b], :]
        return out

    def map_rotations(self, names: tuple[str, ...], rotations: np.ndarray) -> np.ndarray:
        """Source global joint rotations -> (..., 55, 3, 3), NaN where no orientation source.

        Uses :attr:`orientation_joints` (plus every directly mapped joint).
        """
        idx = {n: i for i, n in enumerate(names)}
        out = np.full(rotations.shape[:-3] + (len(JOINT_NAMES), 3, 3), np.nan)
        src = {k: v for k, v in self.joint_map.items() if isinstance(v, str)}
        src.update(self.orientation_joints)
        for smplx_name, s in src.items():
            out[..., JOINT_INDEX[smplx_name], :, :] = rotations[..., idx[s], :, :]
        return out


class UnknownSkeletonError(ValueError):
    """A file whose joint names match no known naming scheme."""


def _cmu_map(n: dict[str, str]) -> dict[str, MapEntry]:
    """CMU topology (cgspeed, 31 joints) -> SMPL-X; ``n`` renames the MotionBuilder names.

    Positions along the CMU spine (metres above the hips, subject 07): Spine 0.13, Spine1 0.25
    (where neck and clavicles start; the cgspeed skeleton has no thorax bone), Neck1 0.33,
    Head 0.41; SMPL-X: spine1 0.11, spine2 0.24, spine3 0.30, neck 0.50, head 0.60. Directions
    are what retargeting keeps, so the spine chain is spread over the CMU chain.
    """
    m: dict[str, MapEntry] = {
        "pelvis": "Hips",
        "spine1": "Spine",
        "spine2": ("Spine", "Spine1", 0.7),
        "spine3": "Spine1",
        "neck": "Neck1",
        "head": "Head",
    }
    for side, s in (("left", "Left"), ("right", "Right")):
        m.update({
            f"{side}_hip": f"{s}UpLeg",
            f"{side}_knee": f"{s}Leg",
            f"{side}_ankle": f"{s}Foot",
            f"{side}_foot": f"{s}ToeBase",
            f"{side}_collar": (f"{s}Shoulder", f"{s}Arm", 0.4),
            f"{side}_shoulder": f"{s}Arm",
            f"{side}_elbow": f"{s}ForeArm",
            f"{side}_wrist": f"{s}Hand",
            f"{side}_middle1": f"{s}HandIndex1",
        })
    return {k: (n.get(v, v) if isinstance(v, str) else (n.get(v[0], v[0]), n.get(v[1], v[1]), v[2]))
            for k, v in m.items()}


# cgspeed 3ds Max names, joint k <-> joint k of the MotionBuilder names (same topology).
_MB_NAMES = ("Hips LHipJoint LeftUpLeg LeftLeg LeftFoot LeftToeBase RHipJoint RightUpLeg RightLeg "
             "RightFoot RightToeBase LowerBack Spine Spine1 Neck Neck1 Head LeftShoulder LeftArm "
             "LeftForeArm LeftHand LeftFingerBase LeftHandIndex1 LThumb RightShoulder RightArm "
             "RightForeArm RightHand RightFingerBase RightHandIndex1 RThumb").split()
_MAX_NAMES = ("Hips LHipJoint LeftHip LeftKnee LeftAnkle LeftToe RHipJoint RightHip RightKnee "
              "RightAnkle RightToe lowerback Chest Chest2 lowerneck Neck Head LeftCollar LeftShoulder "
              "LeftElbow LeftWrist lhand LFingers LThumb RightCollar RightShoulder RightElbow "
              "RightWrist rhand RFingers RThumb").split()
MB_TO_MAX = dict(zip(_MB_NAMES, _MAX_NAMES))


def _cc_map() -> dict[str, MapEntry]:
    """Character Creator (iClone "motion dummy") rig -> SMPL-X; positions in cm above the hip:
    Spine01 12.5, Spine02 27.3, NeckTwist01 54.6, Head 62.6 (SMPL-X: 11, 24, 30, 50, 60)."""
    m: dict[str, MapEntry] = {
        "pelvis": "CC_Base_Hip",
        "spine1": "CC_Base_Spine01",
        "spine2": "CC_Base_Spine02",
        "spine3": ("CC_Base_Spine02", "CC_Base_NeckTwist01", 0.25),
        "neck": "CC_Base_NeckTwist01",
        "head": "CC_Base_Head",
    }
    for side, s in (("left", "L"), ("right", "R")):
        p = f"CC_Base_{s}_"
        m.update({
            f"{side}_hip": p + "Thigh",
            f"{side}_knee": p + "Calf",
            f"{side}_ankle": p + "Foot",
            f"{side}_foot": p + "ToeBase",
            f"{side}_collar": p + "Clavicle",
            f"{side}_shoulder": p + "Upperarm",
            f"{side}_elbow": p + "Forearm",
            f"{side}_wrist": p + "Hand",
        })
        for finger, cc in (("index", "Index"), ("middle", "Mid"), ("ring", "Ring"),
                           ("pinky", "Pinky"), ("thumb", "Thumb")):
            for k in (1, 2, 3):
                m[f"{side}_{finger}{k}"] = f"{p}{cc}{k}"
    return m


SCHEMES: dict[str, NamingScheme] = {
    s.name: s
    for s in (
        NamingScheme(
            name="cmu_mb",
            description="CMU mocap, cgspeed MotionBuilder-friendly BVH (Hips, LeftUpLeg, ...)",
            unit_m=CMU_UNIT_M, up_axis="y", has_reference_frame=True, reference_is_tpose=True,
            header_fps_trusted=False,
            signature=("Hips", "LeftUpLeg", "LeftLeg", "LeftToeBase", "Spine1", "LeftForeArm"),
            joint_map=_cmu_map({}),
            orientation_joints={"head": "Head", "left_foot": "LeftToeBase",
                                "right_foot": "RightToeBase"},
        ),
        NamingScheme(
            name="cmu_max",
            description="CMU mocap, cgspeed 3ds Max-friendly BVH (Hips, LeftHip, Chest, ...)",
            unit_m=CMU_UNIT_M, up_axis="y", has_reference_frame=False, reference_is_tpose=False,
            header_fps_trusted=False,
            signature=("Hips", "LeftHip", "LeftKnee", "LeftToe", "Chest2", "LeftElbow"),
            joint_map=_cmu_map(MB_TO_MAX),
            orientation_joints={"head": "Head", "left_foot": "LeftToe", "right_foot": "RightToe"},
        ),
        NamingScheme(
            name="cc",
            description="Character Creator / iClone rig (CC_Base_*), e.g. IClone-CMU-Mocap exports",
            unit_m=0.01, up_axis="y", has_reference_frame=True, reference_is_tpose=False,
            header_fps_trusted=True,
            signature=("CC_Base_Hip", "CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_Spine02",
                       "CC_Base_L_Upperarm"),
            joint_map=_cc_map(),
            orientation_joints={"head": "CC_Base_Head"},
        ),
    )
}
"""Every known naming scheme by name."""


def detect_scheme(names: tuple[str, ...] | list[str], source: str = "") -> NamingScheme:
    """Pick the naming scheme whose signature joints all occur in ``names``.

    Raises:
        UnknownSkeletonError: if none matches; the message lists the schemes, their
            signature joints, and says how to add one.
    """
    have = set(names)
    for scheme in SCHEMES.values():
        if have.issuperset(scheme.signature):
            return scheme
    known = "; ".join(f"{s.name}: {', '.join(s.signature)}" for s in SCHEMES.values())
    raise UnknownSkeletonError(
        f"{source or 'skeleton'}: unknown joint naming (first joints: {list(names)[:8]}). "
        f"Known schemes and the joints that identify them: {known}. To read this rig, add a "
        "NamingScheme with its SMPL-X joint map to egogen.motion.skeletons.SCHEMES, or pass "
        "scheme=... explicitly."
    )


def cmu_true_fps(clip_name: str, header_fps: float) -> float:
    """True capture rate of a cgspeed CMU clip named ``SS_TT`` (subject_trial).

    CMU subjects in :data:`CMU_60FPS_SUBJECTS` (and trial 136_19) were captured at 60 fps but
    their BVH headers say 120 fps. Other names return ``header_fps`` unchanged.
    """
    parts = clip_name.split("_")
    try:
        subject, trial = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return header_fps
    if abs(header_fps - 120.0) < 0.5 and (
        subject in CMU_60FPS_SUBJECTS or (subject, trial) in CMU_60FPS_TRIALS
    ):
        return 60.0
    return header_fps


def _check_tables() -> None:
    for s in SCHEMES.values():
        unknown = set(s.joint_map) - JOINT_INDEX.keys()
        if unknown:  # pragma: no cover - guards edits of the tables above
            raise AssertionError(f"scheme {s.name}: not SMPL-X joints: {sorted(unknown)}")
        body = set(JOINT_NAMES[: NUM_BODY_JOINTS + 1])
        if not body.issubset(s.joint_map):  # pragma: no cover
            raise AssertionError(f"scheme {s.name}: body joints unmapped: {sorted(body - set(s.joint_map))}")


_check_tables()
