"""Camera models and head-mounted rig presets.

Conventions (DESIGN.md): OpenCV camera frame (x right, y down, z forward); pixel coordinates
(u, v) = (column, row) with integers at pixel centres, as OpenCV; metres and radians. Two models, named as COLMAP names them:

- ``pinhole``: u = fx x/z + cx, v = fy y/z + cy.
- ``fisheye``: OpenCV fisheye / Kannala-Brandt (COLMAP ``OPENCV_FISHEYE``): theta = angle
  off the optical axis, theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 +
  k4 theta^8), u = fx theta_d x / r + cx with r = sqrt(x^2 + y^2) (Kannala & Brandt,
  TPAMI 2006, Eq. 6 truncated as in OpenCV).

Rig presets are JSON files in the shipped ``render/rigs/`` folder (see :func:`load_rig`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egogen.resources import resource_dir

MODELS = ("pinhole", "fisheye")


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera.

    Attributes:
        model: ``"pinhole"`` or ``"fisheye"`` (see module docstring).
        width, height: image size in pixels.
        fx, fy, cx, cy: focal lengths and principal point, pixels.
        k: fisheye distortion (k1, k2, k3, k4); zeros for pinhole.
    """

    model: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    k: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown camera model {self.model!r}; use one of {MODELS}")
        if self.width <= 0 or self.height <= 0 or self.fx <= 0 or self.fy <= 0:
            raise ValueError("camera width, height, fx and fy must be positive")

    def scaled(self, width: int) -> "CameraModel":
        """The same camera at another resolution (aspect ratio kept)."""
        s = width / self.width
        return CameraModel(self.model, width, int(round(self.height * s)), self.fx * s, self.fy * s,
                           self.cx * s, self.cy * s, self.k)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project camera-frame points to pixels.

        Args:
            points: (..., 3) points in the OpenCV camera frame, metres.
        Returns:
            uv: (..., 2) float64 pixel coordinates (column, row).
            valid: (...,) bool, True where the point is in front of the camera (pinhole:
                z > 0; fisheye: less than 90 degrees off the axis).
        """
        p = np.asarray(points, dtype=np.float64)
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        if self.model == "pinhole":
            valid = z > 1e-9
            zs = np.where(valid, z, 1.0)
            a, b = x / zs, y / zs
        else:
            r = np.hypot(x, y)
            theta = np.arctan2(r, z)
            t2 = theta * theta
            k1, k2, k3, k4 = self.k
            theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            scale = np.where(r > 1e-12, theta_d / np.where(r > 1e-12, r, 1.0), 1.0 / np.maximum(z, 1e-12))
            a, b = x * scale, y * scale
            valid = theta < np.pi / 2
        uv = np.stack([self.fx * a + self.cx, self.fy * b + self.cy], axis=-1)
        return uv, valid

    def unproject(self, uv: np.ndarray) -> np.ndarray:
        """Unit viewing rays of pixels.

        Args:
            uv: (..., 2) pixel coordinates (column, row).
        Returns:
            (..., 3) unit directions in the OpenCV camera frame.
        """
        uv = np.asarray(uv, dtype=np.float64)
        a = (uv[..., 0] - self.cx) / self.fx
        b = (uv[..., 1] - self.cy) / self.fy
        if self.model == "pinhole":
            d = np.stack([a, b, np.ones_like(a)], axis=-1)
        else:
            theta_d = np.hypot(a, b)
            theta = theta_d.copy()
            k1, k2, k3, k4 = self.k
            for _ in range(20):  # Newton on theta_d(theta) = theta_d
                t2 = theta * theta
                f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
                df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
                theta = theta - f / df
            s = np.where(theta_d > 1e-12, np.sin(theta) / np.where(theta_d > 1e-12, theta_d, 1.0), 1.0)
            d = np.stack([a * s, b * s, np.cos(theta)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def horizontal_fov_deg(self) -> float:
        """Horizontal field of view across the image's middle row, degrees."""
        rays = self.unproject(np.array([[0.0, self.cy], [self.width, self.cy]]))
        return float(np.degrees(np.arccos(np.clip(rays[0] @ rays[1], -1, 1))))

    def to_dict(self) -> dict:
        """Intrinsics as a JSON-ready dict (``model``, ``width``, ``height``, ``params``)."""
        params = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        if self.model == "fisheye":
            params.update(zip(("k1", "k2", "k3", "k4"), self.k))
        return {"model": self.model, "width": self.width, "height": self.height, "params": params}


@dataclass(frozen=True)
class RigPreset:
    """A head-mounted camera: intrinsics, frame rate and where it sits on the head.

    Attributes:
        name: preset name (file stem).
        camera: the :class:`CameraModel`.
        fps: frame rate, Hz.
        mount_offset_m: (3,) camera position relative to the midpoint of the eyes, in the
            camera's own OpenCV axes at rest (x right, y down, z forward), metres.
        description: one line for people.
    """

    name: str
    camera: CameraModel
    fps: float
    mount_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False)


def rig_dir() -> Path:
    """Folder of the shipped rig presets (``render/rigs``)."""
    return resource_dir("render") / "rigs"


def available_rigs() -> list[str]:
    """Names of the shipped rig presets."""
    return sorted(p.stem for p in rig_dir().glob("*.json"))


def load_rig(name_or_path: str | Path) -> RigPreset:
    """Load a rig preset by name (``pinhole``, ``hololens2``, ``aria``) or from a JSON file.

    Raises:
        ValueError: unknown preset name (the message lists the known ones) or a file whose
            fields are missing or invalid.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = rig_dir() / f"{name_or_path}.json"
        if not path.is_file():
            raise ValueError(f"unknown rig preset {name_or_path!r}; available: {', '.join(available_rigs())} "
                             "(or pass the path of a JSON preset)")
    try:
        spec = json.loads(path.read_text())
        p = spec["params"]
        k = tuple(float(p.get(f"k{i}", 0.0)) for i in range(1, 5))
        cam = CameraModel(spec["model"], int(spec["width"]), int(spec["height"]), float(p["fx"]),
                          float(p["fy"]), float(p["cx"]), float(p["cy"]), k)
        offset = tuple(float(x) for x in spec.get("mount_offset_m", (0.0, 0.0, 0.0)))
        if len(offset) != 3:
            raise ValueError("mount_offset_m needs 3 numbers")
        return RigPreset(spec.get("name", path.stem), cam, float(spec.get("fps", 30)), offset,
                         spec.get("description", ""), spec)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"invalid rig preset {path}: {e}. A preset needs model, width, height, "
                         "params {fx, fy, cx, cy[, k1..k4]}, fps and mount_offset_m.") from e
