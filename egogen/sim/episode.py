"""The Episode: the one description of a simulated world that every observer reads.

An episode is a scene plus K people moving through it at 30 Hz. Sensing (gaze), text,
rendering and the shard writer are observers: they take an :class:`Episode` and derive
their streams from it, never from simulator internals.

Conventions (DESIGN.md): world frame Z up, floor z = 0, metres, radians; time stamps
int64 nanoseconds from the episode start; SMPL-X parameters as ``smplx.SMPLX.forward``
takes them, world-frame (``global_orient`` includes the Y-up -> Z-up turn); cameras
OpenCV, ``T_world_camera`` camera -> world, float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

FPS = 30.0
"""Rate of bodies, cameras and gaze, Hz (egocentric devices record at 30 Hz)."""


def timestamps_ns(num_frames: int, fps: float = FPS) -> np.ndarray:
    """(T,) int64 time stamps in nanoseconds from the episode start: round(i / fps * 1e9)."""
    return np.round(np.arange(num_frames, dtype=np.float64) * (1e9 / fps)).astype(np.int64)


def safe_name(text: str) -> str:
    """``text`` with every character other than letters, digits, '_' and '-' (dots, colons,
    slashes) replaced by '_': a file name or shard key part (``apartment:3`` -> ``apartment_3``)."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)


def sample_key(scene: str, index: int, wearer: int) -> str:
    """Shard sample key of a wearer of an episode: ``<scene>-<episode>-<wearer>``, the scene
    spec made safe by :func:`safe_name`."""
    return f"{safe_name(scene)}-{index:06d}-{wearer}"


@dataclass
class Goal:
    """One goal of a person's chain of goals.

    Attributes:
        xy: (2,) float64 world standing point, metres.
        label: what the goal is (``"sofa"``, ``"kitchen"``, ``"point"``).
        room: room the goal is in, or None.
        instance_id: scene object instance the goal belongs to, or -1.
        reached_frame: first frame the person was within the success radius, or -1.
    """

    xy: np.ndarray
    label: str = "point"
    room: Optional[str] = None
    instance_id: int = -1
    reached_frame: int = -1


@dataclass
class PersonTrack:
    """One person over an episode (T frames at ``Episode.fps``), world frame.

    Attributes:
        person_id: index of the person in ``Episode.people``.
        betas: (num_betas,) float32 SMPL-X shape.
        gender: ``neutral``, ``male`` or ``female`` (the body-model file used).
        global_orient: (T, 3) float32 axis-angle, radians.
        body_pose: (T, 63) float32 axis-angle of joints 1..21, radians.
        transl: (T, 3) float32 metres.
        joints: (T, 55, 3) float32 posed SMPL-X joints, metres.
        T_world_camera: (T, 4, 4) float64 head-camera pose (OpenCV camera -> world).
        markers: (T, 67, 3) float32 SSM2 markers, metres, or None.
        left_hand_pose, right_hand_pose: (T, 45) float32, or None (zeros).
        goals: the chain of goals the person walked to, in order.
        path: (K, 2) float64 planned waypoints (world xy, metres) of the whole chain.
    """

    person_id: int
    betas: np.ndarray
    gender: str
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    T_world_camera: np.ndarray
    markers: Optional[np.ndarray] = None
    left_hand_pose: Optional[np.ndarray] = None
    right_hand_pose: Optional[np.ndarray] = None
    goals: list[Goal] = field(default_factory=list)
    path: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def num_frames(self) -> int:
        return int(self.transl.shape[0])

    def head_xy(self) -> np.ndarray:
        """(T, 2) world xy of the head camera."""
        return self.T_world_camera[:, :2, 3]

    def check(self) -> None:
        """Raise ValueError if array shapes disagree or values are not finite."""
        T = self.num_frames
        shapes = {"global_orient": (T, 3), "body_pose": (T, 63), "transl": (T, 3), "joints": (T, 55, 3),
                  "T_world_camera": (T, 4, 4)}
        for name, shape in shapes.items():
            a = getattr(self, name)
            if a.shape != shape:
                raise ValueError(f"person {self.person_id}: {name} has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"person {self.person_id}: {name} has NaN or inf values")
        if self.markers is not None and self.markers.shape[:2] != (T, 67):
            raise ValueError(f"person {self.person_id}: markers has shape {self.markers.shape}")


@dataclass
class Episode:
    """A scene and the people moving through it.

    Attributes:
        scene: scene spec as :func:`egogen.scene.load_scene` takes it (``"apartment:3"``).
        index: episode index within the run.
        seed: the episode's own seed (derived from the run seed and ``index``).
        people: the K people; each is also an egocentric wearer.
        rig: name of the head-camera rig preset (``render/rigs``).
        fps: frame rate of every stream, Hz.
        meta: free-form JSON-serialisable facts (versions, checkpoint hashes ...).
    """

    scene: str
    index: int
    seed: int
    people: list[PersonTrack]
    rig: str = "aria"
    fps: float = FPS
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.people[0].num_frames if self.people else 0

    @property
    def timestamps_ns(self) -> np.ndarray:
        """(T,) int64 nanoseconds from the episode start."""
        return timestamps_ns(self.num_frames, self.fps)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def key(self, wearer: int) -> str:
        """Shard sample key of one wearer (:func:`sample_key`)."""
        return sample_key(self.scene, self.index, wearer)

    def check(self) -> None:
        """Raise ValueError if the people disagree on length or hold invalid arrays."""
        if not self.people:
            raise ValueError("an episode needs at least one person")
        for p in self.people:
            p.check()
            if p.num_frames != self.num_frames:
                raise ValueError(f"person {p.person_id} has {p.num_frames} frames, person 0 has {self.num_frames}")
