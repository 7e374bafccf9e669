"""What one rendered frame is: the scene, posed body meshes and a camera in; named image
streams out. Every engine (:mod:`egogen.render.engines`) reads a :class:`Frame` and returns
a dict of the streams it can make, with the shapes, dtypes and conventions below.

Output streams (H, W from the camera):

- ``depth``: (H, W) float32 planar z-depth in metres (distance along the camera's optical
  axis, OpenCV z), 0 where no surface is seen.
- ``normal``: (H, W, 3) float32 unit surface normals in the OpenCV camera frame, turned to
  face the camera; zeros where no surface.
- ``instance``: (H, W) int32 instance ids (:mod:`egogen.render.labels`): scene objects keep
  theirs, person k gets ``person_id_base(scene) + k``, -1 background.
- ``semantic``: (H, W) int32 class ids of :data:`egogen.render.labels.SEMANTIC_LABELS`,
  -1 background.
- ``rgb``: (H, W, 3) uint8 sRGB image (engines that shade only).

Pixel (u, v) = (column, row) with integers at pixel centres, as :class:`CameraModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from egogen.render.camera import CameraModel
from egogen.scene.model import Scene

OUTPUT_KEYS = ("rgb", "depth", "normal", "instance", "semantic")


@dataclass
class BodyAppearance:
    """How a body looks: per-vertex base colours (skin, clothing) and a cloth pattern.

    Attributes:
        vertex_colors: (V, 3) float32 linear RGB in [0, 1], one per body vertex.
        roughness: surface roughness in [0, 1] for physically based engines.
        pattern: procedural pattern of the clothing (``"solid"``, ``"fabric_weave"``,
            ``"stripes"``); skin is never patterned.
        cloth_mask: (V,) bool, True on clothed vertices (where ``pattern`` applies), or None.
    """

    vertex_colors: np.ndarray
    roughness: float = 0.6
    pattern: str = "solid"
    cloth_mask: np.ndarray | None = None


@dataclass
class BodyMesh:
    """One posed person for one frame.

    Attributes:
        vertices: (V, 3) float world-frame vertices, metres (``body(...).vertices[b]``).
        faces: (F, 3) int vertex ids (``body.faces``); may be a subset (e.g. the wearer
            without the head, :func:`egogen.render.bodies.wearer_faces`).
        person_index: k >= 0; the instance id is ``person_id_base(scene) + k``.
        appearance: colours, or None for a neutral grey.
        label: semantic label, ``"person"``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    person_index: int = 0
    appearance: BodyAppearance | None = None
    label: str = "person"

    def __post_init__(self):
        self.vertices = np.asarray(self.vertices, dtype=np.float64).reshape(-1, 3)
        self.faces = np.asarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if self.person_index < 0:
            raise ValueError("person_index must be >= 0")
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("body faces index vertices that do not exist")


@dataclass
class Frame:
    """Everything an engine needs to render one image.

    Attributes:
        scene: the static scene (engines build it once and reuse it while the same object
            is passed).
        camera: intrinsics (pinhole or fisheye).
        T_world_camera: (4, 4) float64 camera -> world pose, OpenCV axes.
        bodies: posed people visible in this frame (the wearer too).
        seed: randomness of the frame's look (light intensities and colour temperature in
            the Blender engine); the geometry does not depend on it.
    """

    scene: Scene
    camera: CameraModel
    T_world_camera: np.ndarray
    bodies: list[BodyMesh] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self):
        T = np.asarray(self.T_world_camera, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError(f"T_world_camera must be a finite 4 x 4 matrix, got shape {T.shape}")
        self.T_world_camera = T

    @property
    def camera_centre(self) -> np.ndarray:
        """(3,) world position of the camera, metres."""
        return self.T_world_camera[:3, 3]


class Renderer(Protocol):
    """An engine: ``render(frame)`` -> dict of the streams in :data:`OUTPUT_KEYS` it makes."""

    name: str
    outputs: tuple[str, ...]

    def render(self, frame: Frame) -> dict[str, np.ndarray]:
        """Render one frame.

        Args:
            frame: scene, posed body meshes (world frame, metres) and the camera
                (``CameraModel`` + ``T_world_camera``, OpenCV, camera -> world).
        Returns:
            The output streams of the module docstring (``depth``, ``normal``, ``instance``,
            ``semantic``, and ``rgb`` for shading engines), each (H, W[, C]) for the camera.
        Raises:
            ValueError: a camera model the engine cannot render (e.g. fisheye in pyrender).
        """
        ...

    def close(self) -> None:
        """Release the engine's resources (GL contexts, Blender data)."""
        ...


def camera_frame_normals(normals_world: np.ndarray, view_dirs_cam: np.ndarray, R_world_camera: np.ndarray,
                         valid: np.ndarray) -> np.ndarray:
    """World normals -> unit camera-frame normals that face the camera.

    Args:
        normals_world: (..., 3) world-frame normals (any length).
        view_dirs_cam: (..., 3) camera-frame viewing rays of the same pixels.
        R_world_camera: (3, 3) camera -> world rotation.
        valid: (...,) bool; invalid pixels get zeros.
    Returns:
        (..., 3) float32 unit normals n with n . ray <= 0.
    """
    n = np.asarray(normals_world, dtype=np.float64) @ R_world_camera  # = R^T n
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    flip = (n * view_dirs_cam).sum(-1) > 0
    n[flip] *= -1
    n[~valid] = 0
    return n.astype(np.float32)
