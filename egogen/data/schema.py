"""The dataset's modality table: every shard member, its arrays, dtypes and shapes.

One sample = one wearer of one episode, keyed ``<scene>-<episode:06d>-<wearer>``. Every other
part (writer, reader, validator, loaders) reads :data:`MEMBERS`; nothing else declares a
member. Shapes use symbols resolved per sample: ``T`` frames (30 Hz), ``B`` betas, ``M``
markers, ``K`` other people, ``S`` gaze segments; numbers are fixed sizes.

Frames and units (DESIGN.md): world frame Z up, floor z = 0, metres, radians; SMPL-X
parameters world-frame as ``smplx.SMPLX.forward`` takes them; cameras OpenCV,
``T_world_camera`` camera -> world float64; time stamps int64 ns from the episode start.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Array:
    """One array of an npz member.

    Attributes:
        name: key in the npz.
        dtype: numpy dtype string (``"float32"``), or ``"str"`` for a unicode array.
        shape: tuple of ints and symbols (``"T"``, ``"B"``, ``"M"``, ``"K"``, ``"S"``).
        doc: unit, frame, meaning.
        optional: may be absent (e.g. markers of a mesh without a marker table).
        finite: float values must be finite (no NaN / inf).
    """

    name: str
    dtype: str
    shape: tuple
    doc: str
    optional: bool = False
    finite: bool = True


@dataclass(frozen=True)
class Member:
    """One member file of a sample (``<key>.<name>`` in the tar).

    Attributes:
        name: member name, e.g. ``"motion.npz"``.
        kind: ``"npz"`` or ``"json"``.
        rate_hz: sampling rate of its time series (0 for static content).
        arrays: npz arrays (npz members).
        keys: required top-level keys (json members).
        doc: what it holds.
        optional: the member may be absent (render streams an engine does not make).
    """

    name: str
    kind: str
    rate_hz: float
    doc: str
    arrays: tuple = ()
    keys: tuple = ()
    optional: bool = False

    def array(self, name: str) -> Array:
        """The declared array ``name`` of this member (StopIteration if undeclared)."""
        return next(a for a in self.arrays if a.name == name)


_TS = Array("timestamps_ns", "int64", ("T",), "ns from the episode start, strictly increasing")

MEMBERS: dict[str, Member] = {m.name: m for m in (
    Member("motion.npz", "npz", 30, "the wearer's SMPL-X body, world frame", (
        _TS,
        Array("betas", "float32", ("B",), "SMPL-X shape coefficients"),
        Array("gender", "str", (), "neutral, male or female: the body-model file"),
        Array("global_orient", "float32", ("T", 3), "pelvis axis-angle, rad, incl. the Y-up -> Z-up turn"),
        Array("body_pose", "float32", ("T", 63), "axis-angle of joints 1..21, rad"),
        Array("left_hand_pose", "float32", ("T", 45), "axis-angle of the 15 left-hand joints, rad (flat mean)"),
        Array("right_hand_pose", "float32", ("T", 45), "axis-angle of the 15 right-hand joints, rad"),
        Array("transl", "float32", ("T", 3), "SMPL-X translation, m (default body: world pelvis)"),
        Array("joints", "float32", ("T", 55, 3), "posed SMPL-X joints, world, m"),
        Array("markers", "float32", ("T", "M", 3), "SSM2 surface markers, world, m", optional=True),
    )),
    Member("camera.npz", "npz", 30, "the head-mounted camera: pose per frame and intrinsics", (
        _TS,
        Array("T_world_camera", "float64", ("T", 4, 4), "camera -> world, OpenCV axes (x right, y down, z fwd)"),
        Array("model", "str", (), "pinhole or fisheye (COLMAP PINHOLE, OPENCV_FISHEYE)"),
        Array("image_size", "int32", (2,), "width, height, px"),
        Array("intrinsics", "float64", (8,), "fx, fy, cx, cy (px), k1..k4 (fisheye; 0 for pinhole)"),
        Array("rig", "str", (), "rig preset name (render/rigs)"),
    )),
    Member("gaze.npz", "npz", 30, "eye gaze (docs/gaze.md)", (
        _TS,
        Array("direction", "float32", ("T", 3), "unit gaze direction, camera frame, from the camera centre"),
        Array("pixel", "float32", ("T", 2), "gaze pixel (column, row) in the rig's image"),
        Array("depth", "float32", ("T",), "distance camera centre -> fixated point, m"),
        Array("object_id", "int32", ("T",), "fixated scene instance id, 1e6 + k for person k, -1 none"),
        Array("event", "uint8", ("T",), "0 fixation, 1 saccade, 2 pursuit, 3 head-fixed"),
        Array("target_kind", "uint8", ("T",), "index into egogen.sim.gaze.TARGET_KINDS"),
        Array("target_world", "float32", ("T", 3), "fixated world point, m"),
        Array("target_visible", "bool", ("T",), "target unoccluded and inside the image"),
        Array("seg_start", "int32", ("S",), "segment first frame"),
        Array("seg_end", "int32", ("S",), "segment end frame (exclusive)"),
        Array("seg_event", "uint8", ("S",), "segment event (as event)"),
        Array("seg_target_kind", "uint8", ("S",), "segment target kind"),
        Array("seg_object_id", "int32", ("S",), "segment object id"),
        Array("seg_amplitude_deg", "float32", ("S",), "saccade amplitude, deg (0 for other events)"),
    )),
    Member("others.npz", "npz", 30, "the other people of the episode (SMPL-X, world) for renderers", (
        _TS,
        Array("person_id", "int32", ("K",), "their ids in the episode"),
        Array("betas", "float32", ("K", "B"), "shape"),
        Array("gender", "str", ("K",), "body-model file per person"),
        Array("global_orient", "float32", ("K", "T", 3), "rad"),
        Array("body_pose", "float32", ("K", "T", 63), "rad"),
        Array("left_hand_pose", "float32", ("K", "T", 45), "rad"),
        Array("right_hand_pose", "float32", ("K", "T", 45), "rad"),
        Array("transl", "float32", ("K", "T", 3), "m"),
    )),
    Member("sensors.npz", "npz", 30, "3-point tracking (EgoLM): head and wrist joint frames, world", (
        _TS,
        Array("T_world_head", "float64", ("T", 4, 4), "SMPL-X head joint frame -> world"),
        Array("T_world_left_wrist", "float64", ("T", 4, 4), "left wrist joint frame -> world"),
        Array("T_world_right_wrist", "float64", ("T", 4, 4), "right wrist joint frame -> world"),
    )),
    Member("text.json", "json", 0, "instruction, description, time-stamped captions, mentions",
           keys=("instruction", "description", "captions", "mentions")),
    Member("meta.json", "json", 0, "scene, episode, seed, wearer, fps, frames, goals, versions",
           keys=("scene", "episode", "seed", "wearer", "person_id", "num_people", "fps", "num_frames",
                 "duration_s", "rig", "versions", "goals", "generator")),
)}
"""Every member of a sample, by name."""

REQUIRED_MEMBERS = tuple(MEMBERS)

# ----------------------------------------------------------------------------- rendered frames
# `egogen render DIR` writes sibling shards (DIR/render-<engine>/) with the same sample keys.
# Symbols: F rendered frames (at the render fps, each one a frame of the 30 Hz streams),
# H, W image height and width in pixels.

_FTS = Array("timestamps_ns", "int64", ("F",), "ns from the episode start of each rendered frame "
             "(= the 30 Hz streams' time stamp at frames.json frame_index)")

RENDER_MEMBERS: dict[str, Member] = {m.name: m for m in (
    Member("frames.json", "json", 0, "which 30 Hz frames were rendered, how, and the id tables",
           keys=("engine", "fps", "source_fps", "source_num_frames", "frame_index", "timestamps_ns", "width",
                 "height", "camera", "rig", "outputs", "samples", "scene", "episode", "wearer", "person_id",
                 "person_instance_ids", "instances", "semantic_labels")),
    Member("rgb.npz", "npz", 0, "colour images (shading engines: cycles, workbench, pyrender)", (
        _FTS,
        Array("rgb", "uint8", ("F", "H", "W", 3), "sRGB"),
    ), optional=True),
    Member("depth.npz", "npz", 0, "planar depth", (
        _FTS,
        Array("depth", "float16", ("F", "H", "W"), "z along the optical axis (OpenCV camera frame), m; 0 = no surface"),
    )),
    Member("normal.npz", "npz", 0, "surface normals (cycles, raycast)", (
        _FTS,
        Array("normal", "float16", ("F", "H", "W", 3), "unit normal, camera frame (OpenCV), facing the camera; "
              "0 = no surface"),
    ), optional=True),
    Member("seg.npz", "npz", 0, "instance and semantic segmentation (egogen.render.labels)", (
        _FTS,
        Array("instance", "int32", ("F", "H", "W"), "scene instance id, person_id_base + person id for people, "
              "-1 background"),
        Array("semantic", "int16", ("F", "H", "W"), "class id = index into frames.json semantic_labels, -1 background"),
    )),
)}
"""Every member of a rendered sample (``DIR/render-<engine>/``), by name."""
