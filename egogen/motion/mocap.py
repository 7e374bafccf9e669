"""Load a mocap clip into egogen's world: metres, Z up, true frame rate, SMPL-X joint names.

:func:`load_bvh` = :func:`egogen.motion.bvh.read_bvh` + naming-scheme facts
(:mod:`egogen.motion.skeletons`) + forward kinematics + unit/axis conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egogen.motion.bvh import BvhClip, forward_kinematics, read_bvh
from egogen.motion.skeletons import SCHEMES, NamingScheme, cmu_true_fps, detect_scheme

__all__ = ["MocapClip", "load_bvh", "Y_UP_TO_Z_UP", "CLIP_TRIM", "list_bvh"]

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""Rotation taking Y-up coordinates to egogen's Z-up world: (x, y, z) -> (x, -z, y).
A Y-up body facing +Z (SMPL-X canonical, CMU) then faces -Y with its left at +X."""

CLIP_TRIM: dict[str, tuple[int, int]] = {"16_23": (4, 0)}
"""Motion frames to cut (start, end) per clip name, after the reference frame is dropped:
known capture glitches (../shared/mocap/README.md: 16_23's right arm is untracked in 0-2)."""


@dataclass
class MocapClip:
    """One clip in egogen's world frame.

    Attributes:
        name: clip id (file stem).
        scheme: naming scheme name.
        fps: true frame rate, Hz.
        joints: (T, 55, 3) float64 SMPL-X joint positions on the source skeleton, metres,
            world Z-up; NaN rows for SMPL-X joints the source does not have.
        rotations: (T, 55, 3, 3) float64 world rotations of the source joints mapped to each
            SMPL-X joint (source joint frame -> world); NaN where none.
        source_names: (J,) source joint names; source_positions: (T, J, 3) metres, Z up.
        reference_joints: (55, 3) SMPL-X joints on the dropped reference frame (T-pose for
            cgspeed MotionBuilder files) or None.
    """

    name: str
    scheme: str
    fps: float
    joints: np.ndarray
    rotations: np.ndarray
    source_names: tuple[str, ...]
    source_positions: np.ndarray
    reference_joints: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from first to last frame."""
        return (self.num_frames - 1) / self.fps


def _to_world(scheme: NamingScheme, pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if scheme.up_axis == "y":
        C = Y_UP_TO_Z_UP
    elif scheme.up_axis == "z":
        C = np.eye(3)
    else:  # pragma: no cover - table guard
        raise ValueError(f"unsupported up axis {scheme.up_axis!r}")
    return (pos * scheme.unit_m) @ C.T, C @ rot


def load_bvh(
    path: str | Path,
    scheme: str | NamingScheme | None = None,
    fps: float | None = None,
    drop_reference: bool | None = None,
    trim: tuple[int, int] | None = None,
) -> MocapClip:
    """Read a BVH clip as SMPL-X-named joints in metres, Z up, at its true frame rate.

    Args:
        path: ``.bvh`` file.
        scheme: naming scheme name or object; detected from the joint names when None.
        fps: override the frame rate (Hz). Default: the header rate, corrected for the CMU
            60-fps-labelled-120 subjects (:func:`egogen.motion.skeletons.cmu_true_fps`).
        drop_reference: drop frame 0 (a converter-added reference pose); default from the
            scheme (cgspeed MotionBuilder and Character Creator files: yes).
        trim: (start, end) motion frames to cut; default :data:`CLIP_TRIM` for known clips.
    Returns:
        :class:`MocapClip`.
    Raises:
        FileNotFoundError, BvhFormatError: unreadable file (see :func:`read_bvh`).
        UnknownSkeletonError: joint names match no scheme.
        ValueError: fewer than 2 frames remain.
    """
    path = Path(path)
    raw: BvhClip = read_bvh(path)
    if scheme is None:
        sch = detect_scheme(raw.names, source=str(path))
    else:
        sch = SCHEMES[scheme] if isinstance(scheme, str) else scheme
    name = path.stem
    true_fps = float(fps) if fps else (raw.header_fps if sch.header_fps_trusted
                                        else cmu_true_fps(name, raw.header_fps))
    # Rates written as 0.0083333 / 0.016667: snap to the intended integer rate.
    if abs(true_fps - round(true_fps)) < 0.01:
        true_fps = float(round(true_fps))
    drop = sch.has_reference_frame if drop_reference is None else drop_reference
    pos, rot = forward_kinematics(raw)
    pos, rot = _to_world(sch, pos, rot)
    ref = None
    if drop:
        ref = sch.map_positions(raw.names, pos[0]) if sch.reference_is_tpose else None
        pos, rot = pos[1:], rot[1:]
    a, b = trim if trim is not None else CLIP_TRIM.get(name, (0, 0))
    pos, rot = pos[a: pos.shape[0] - b], rot[a: rot.shape[0] - b]
    if pos.shape[0] < 2:
        raise ValueError(f"{path}: fewer than 2 motion frames after dropping reference/trim")
    return MocapClip(
        name=name,
        scheme=sch.name,
        fps=true_fps,
        joints=sch.map_positions(raw.names, pos),
        rotations=sch.map_rotations(raw.names, rot),
        source_names=raw.names,
        source_positions=pos,
        reference_joints=ref,
    )


def list_bvh(folder: str | Path) -> list[Path]:
    """All ``*.bvh`` files under ``folder`` (recursive), sorted by path.

    Raises:
        FileNotFoundError: if ``folder`` is missing or holds no BVH file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"mocap folder not found: {folder}")
    files = sorted(folder.rglob("*.bvh"))
    if not files:
        raise FileNotFoundError(f"no .bvh files under {folder}; point --bvh-dir at the CMU clips")
    return files
