"""BVH reading and forward kinematics (vectorised numpy; no per-frame Python objects).

A BVH file is a joint hierarchy (``OFFSET`` + ``CHANNELS`` per joint) followed by one line of
channel values per frame. This module parses it into arrays and runs forward kinematics; the
naming-scheme-specific facts (units, up axis, reference frame, true frame rate) live in
:mod:`egogen.motion.skeletons` and are applied by :func:`egogen.motion.mocap.load_bvh`.

Conventions of the format (as in Biovision's spec and every exporter we read):
Euler channels are in degrees and compose in the order they are listed, intrinsically
(``Zrotation Yrotation Xrotation`` -> ``R = Rz @ Ry @ Rx``, column vectors); a joint's
world rotation is ``G_j = G_parent @ R_j`` and its position ``p_j = p_parent + G_parent @ t_j``
where ``t_j`` is the ``OFFSET`` plus the position channels where the joint has them (the
root). Adding (not replacing) matters for Character Creator exports, whose root OFFSET holds
the hip height and whose position channels are relative to it; CMU roots have OFFSET 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["BvhFormatError", "BvhClip", "read_bvh", "forward_kinematics"]

_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


class BvhFormatError(ValueError):
    """A BVH file that cannot be read; the message names the file, the line and a fix."""


@dataclass
class BvhClip:
    """The raw content of one BVH file (source units and axes, all frames kept).

    Attributes:
        path: the file read.
        names: (J,) joint names in file order (parents precede children).
        parents: (J,) int64 parent index, -1 for the root.
        offsets: (J, 3) float64 ``OFFSET`` of each joint in its parent's frame, source units.
        channels: per joint, the channel names in file order.
        channel_start: (J,) int64 column of each joint's first channel in ``motion``.
        motion: (F, C) float64 channel values, degrees for rotations, source units for
            positions; one row per frame as in the file.
        frame_time: seconds per frame as written in the header (may be wrong, see
            :data:`egogen.motion.skeletons.CMU_60FPS_SUBJECTS`).
        end_sites: joint index -> (3,) ``End Site`` offset in that joint's frame.
    """

    path: Path
    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    channel_start: np.ndarray
    motion: np.ndarray
    frame_time: float
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def header_fps(self) -> float:
        """Frame rate as written in the header (1 / Frame Time)."""
        return 1.0 / self.frame_time


def _err(path: Path, line_no: int | None, what: str, fix: str) -> BvhFormatError:
    where = f"{path}" + (f", line {line_no}" if line_no is not None else "")
    return BvhFormatError(f"{where}: {what}. {fix}")


def read_bvh(path: str | Path) -> BvhClip:
    """Parse a BVH file into arrays (no unit or axis conversion, no frames dropped).

    Args:
        path: a ``.bvh`` file (CRLF, LF or mixed line endings; tabs or spaces).
    Returns:
        :class:`BvhClip` with ``motion`` of shape (F, C), float64.
    Raises:
        FileNotFoundError: if ``path`` does not exist.
        BvhFormatError: if the hierarchy is malformed, the ``MOTION`` header is missing, the
            file is truncated (fewer frame lines than ``Frames:``) or a frame line has the
            wrong number of values or a non-number; the message gives the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BVH file not found: {path} (check the path / --bvh-dir)")
    lines = path.read_text(errors="replace").splitlines()
    fix = "Re-export or re-download the file; it is not a valid BVH."

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []  # joint index per open brace; -2 marks an End Site block
    pending: str | None = None  # "joint" or "end" awaiting its "{"
    i = 0
    n = len(lines)
    while i < n and not lines[i].strip():
        i += 1
    if i >= n or lines[i].strip() != "HIERARCHY":
        raise _err(path, i + 1 if i < n else None, "file does not start with HIERARCHY", fix)
    i += 1
    while i < n:
        tok = lines[i].split()
        i += 1
        if not tok:
            continue
        key = tok[0]
        if key in ("ROOT", "JOINT"):
            if len(tok) < 2:
                raise _err(path, i, f"{key} without a joint name", fix)
            if key == "ROOT" and names:
                raise _err(path, i, "more than one ROOT (multiple skeletons are not supported)", fix)
            if key == "JOINT" and not stack:
                raise _err(path, i, "JOINT outside the ROOT block", fix)
            parents.append(stack[-1] if stack else -1)
            names.append(" ".join(tok[1:]))
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            pending = "joint"
        elif key == "End":
            if not stack:
                raise _err(path, i, "End Site outside any joint", fix)
            pending = "end"
        elif key == "{":
            if pending == "joint":
                stack.append(len(names) - 1)
            elif pending == "end":
                stack.append(-2 - stack[-1])  # encodes the owning joint
            else:
                raise _err(path, i, "unexpected '{'", fix)
            pending = None
        elif key == "}":
            if not stack:
                raise _err(path, i, "unbalanced '}'", fix)
            stack.pop()
            if not stack:
                break  # end of ROOT block
        elif key == "OFFSET":
            try:
                vals = [float(v) for v in tok[1:4]]
            except ValueError as exc:
                raise _err(path, i, f"OFFSET is not numeric ({exc})", fix) from None
            if len(vals) != 3 or not stack:
                raise _err(path, i, "OFFSET needs 3 numbers inside a joint block", fix)
            if stack[-1] <= -2:
                end_sites[-2 - stack[-1]] = np.asarray(vals)
            else:
                offsets[stack[-1]] = vals
        elif key == "CHANNELS":
            if not stack or stack[-1] < 0:
                raise _err(path, i, "CHANNELS outside a joint block", fix)
            try:
                count = int(tok[1])
            except (IndexError, ValueError):
                raise _err(path, i, "CHANNELS needs a count", fix) from None
            chans = tuple(tok[2:])
            unknown = [c for c in chans if c not in _POS and c not in _ROT]
            if count != len(chans) or unknown:
                raise _err(path, i, f"bad CHANNELS declaration {tok[1:]}", fix)
            channels[stack[-1]] = chans
        else:
            raise _err(path, i, f"unexpected token {key!r} in HIERARCHY", fix)
    else:
        raise _err(path, None, "HIERARCHY never closes (file truncated?)", fix)
    if not names:
        raise _err(path, None, "no ROOT joint", fix)

    while i < n and not lines[i].strip():
        i += 1
    if i >= n or lines[i].strip() != "MOTION":
        raise _err(path, i + 1 if i < n else None, "MOTION section missing (file truncated?)", fix)
    header = {}
    for key in ("Frames:", "Frame Time:"):
        i += 1
        text = lines[i].strip() if i < n else ""
        if not text.startswith(key):
            raise _err(path, i + 1, f"expected '{key} ...' after MOTION", fix)
        header[key] = text[len(key):].strip()
    try:
        num_frames = int(header["Frames:"])
        frame_time = float(header["Frame Time:"])
    except ValueError:
        raise _err(path, i, "Frames / Frame Time are not numbers", fix) from None
    if frame_time <= 0:
        raise _err(path, i + 1, f"Frame Time must be positive, got {frame_time}", fix)

    counts = [len(c) for c in channels]
    num_channels = int(sum(counts))
    first_motion_line = i + 2
    rows = [ln for ln in lines[i + 1:] if ln.strip()]
    if len(rows) < num_frames:
        raise _err(
            path, None,
            f"truncated: header says Frames: {num_frames} but only {len(rows)} frame lines follow",
            "Re-copy the file; or fix the 'Frames:' line if the file was cut on purpose.",
        )
    rows = rows[:num_frames]
    tokens = " ".join(rows).split()
    if len(tokens) != num_frames * num_channels:
        for k, ln in enumerate(rows):
            if len(ln.split()) != num_channels:
                raise _err(path, first_motion_line + k,
                           f"frame {k} has {len(ln.split())} values, the hierarchy declares "
                           f"{num_channels} channels", fix)
    try:
        motion = np.asarray(tokens, dtype=np.float64).reshape(num_frames, num_channels)
    except ValueError as exc:
        raise _err(path, None, f"non-numeric value in MOTION ({exc})", fix) from None
    if not np.isfinite(motion).all():
        bad = int(np.argwhere(~np.isfinite(motion))[0, 0])
        raise _err(path, first_motion_line + bad, f"frame {bad} has NaN/inf values", fix)

    return BvhClip(
        path=path,
        names=tuple(names),
        parents=np.asarray(parents, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.float64),
        channels=tuple(channels),
        channel_start=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
        motion=motion,
        frame_time=frame_time,
        end_sites=end_sites,
    )


def local_transforms(clip: BvhClip, motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint local rotations and translations from the channel values.

    Args:
        clip: parsed file.
        motion: (F, C) channel values to use instead of ``clip.motion`` (e.g. filtered).
    Returns:
        rot: (F, J, 3, 3) float64 local rotation matrices (joint frame -> parent frame).
        trans: (F, J, 3) float64 local translations in the parent frame, source units.
    """
    motion = clip.motion if motion is None else motion
    F, J = motion.shape[0], len(clip.names)
    rot = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
    trans = np.broadcast_to(clip.offsets, (F, J, 3)).copy()
    for j, chans in enumerate(clip.channels):
        s = int(clip.channel_start[j])
        seq, cols = "", []
        for k, c in enumerate(chans):
            if c in _POS:
                trans[:, j, _POS[c]] += motion[:, s + k]
            else:
                seq += _ROT[c]
                cols.append(s + k)
        if seq:
            rot[:, j] = Rotation.from_euler(seq, motion[:, cols], degrees=True).as_matrix()
    return rot, trans


def forward_kinematics(clip: BvhClip, motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World (file-frame) joint positions and rotations of every frame.

    Args:
        clip: parsed file.
        motion: optional (F, C) replacement channel values.
    Returns:
        positions: (F, J, 3) float64, source units and axes (no conversion).
        rotations: (F, J, 3, 3) float64 joint-to-file-frame rotations.
    """
    rot, trans = local_transforms(clip, motion)
    F, J = rot.shape[:2]
    grot = np.empty_like(rot)
    gpos = np.empty((F, J, 3))
    for j, p in enumerate(clip.parents):
        if p < 0:
            grot[:, j] = rot[:, j]
            gpos[:, j] = trans[:, j]
        else:
            grot[:, j] = grot[:, p] @ rot[:, j]
            gpos[:, j] = gpos[:, p] + np.einsum("fab,fb->fa", grot[:, p], trans[:, j])
    return gpos, grot
