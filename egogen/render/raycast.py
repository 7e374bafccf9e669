"""``raycast`` engine: depth, normals and segmentation by open3d ray casting, no GL.

The static scene is one open3d ``RaycastingScene`` built once per :class:`Scene`; the
people of a frame go into a second, small ray-casting scene built per frame, and only the
rays that can reach a body (inside the cone of its bounding sphere) are cast against it.
Rays come from :meth:`CameraModel.unproject` of every pixel centre, so any camera model
works (pinhole and fisheye alike); the first hit of each ray at distance t along the unit
ray d gives planar depth ``t * d_z``. This engine is the geometric reference the other
engines are tested against.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from egogen.render.camera import CameraModel
from egogen.render.frame import Frame, camera_frame_normals
from egogen.render.labels import BACKGROUND, instance_to_semantic, person_id_base
from egogen.scene.model import Scene


def pixel_rays(camera: CameraModel) -> np.ndarray:
    """(H, W, 3) float64 unit viewing rays of every pixel centre, OpenCV camera frame."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    return camera.unproject(np.stack([u, v], axis=-1))


def visible_faces(vertices: np.ndarray, faces: np.ndarray, camera: CameraModel, R_camera_world: np.ndarray,
                  centre: np.ndarray, margin_px: float = 8.0) -> np.ndarray:
    """Faces of a closed mesh that can be the first hit of a pixel ray: front-facing as
    seen from the camera centre and not wholly outside the image.

    Args:
        vertices: (V, 3) world vertices, metres; faces: (F, 3) counter-clockwise from outside.
        camera: intrinsics; R_camera_world: (3, 3) world -> camera rotation; centre: (3,)
            camera centre, world.
        margin_px: faces whose projected vertices all lie this far beyond one image border
            are dropped.
    Returns:
        (F', 3) the kept faces (a subset, order kept).
    """
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    front = np.einsum("ij,ij->i", tri[:, 0] - centre, n) < 0
    uv, ok = camera.project((vertices - centre) @ R_camera_world.T)
    m = margin_px
    # Cohen-Sutherland style out-codes: a face is out if all its vertices share an out bit.
    code = ((uv[:, 0] < -m) | ~ok).astype(np.uint8)
    code |= ((uv[:, 0] > camera.width + m) | ~ok).astype(np.uint8) << 1
    code |= ((uv[:, 1] < -m) | ~ok).astype(np.uint8) << 2
    code |= ((uv[:, 1] > camera.height + m) | ~ok).astype(np.uint8) << 3
    out = (code[faces[:, 0]] & code[faces[:, 1]] & code[faces[:, 2]]) != 0
    return faces[front & ~out]


class RaycastRenderer:
    """Ray-cast renderer (see module docstring). Outputs depth, normal, instance, semantic.

    Args:
        near: hits closer than this along the ray are ignored (metres); 0 keeps all.

    ``render(frame)`` returns the streams of :mod:`egogen.render.frame` (no ``rgb``).
    Deterministic: the same frame gives the same bytes.
    """

    name = "raycast"
    outputs = ("depth", "normal", "instance", "semantic")

    def __init__(self, near: float = 0.0):
        self.near = float(near)
        self._scene: Scene | None = None
        self._rc: o3d.t.geometry.RaycastingScene | None = None
        self._rays: dict[CameraModel, np.ndarray] = {}

    def _prepare(self, scene: Scene) -> None:
        if self._scene is scene:
            return
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32)),
                         o3d.core.Tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32)))
        self._rc = rc
        self._scene = scene
        self._face_instance = np.append(np.asarray(scene.face_instance, dtype=np.int32), BACKGROUND)
        self._base = person_id_base(scene)

    def _camera_rays(self, camera: CameraModel) -> np.ndarray:
        if camera not in self._rays:
            self._rays[camera] = pixel_rays(camera).reshape(-1, 3)
        return self._rays[camera]

    def cast(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits of every pixel's ray.

        Returns:
            t: (H*W,) float64 distance along the unit ray, metres, inf for no hit.
            normal_world: (H*W, 3) float32 geometric normals (triangle winding), world frame.
            instance: (H*W,) int32 instance ids, -1 for no hit.
        """
        self._prepare(frame.scene)
        d_cam = self._camera_rays(frame.camera)
        R = frame.T_world_camera[:3, :3]
        c = frame.T_world_camera[:3, 3]
        d_world = d_cam @ R.T
        origins = np.broadcast_to(c, d_world.shape)
        o = c + self.near * d_world if self.near > 0 else origins
        rays = np.concatenate([o, d_world], axis=1).astype(np.float32)
        hit = self._rc.cast_rays(o3d.core.Tensor(rays), nthreads=0)
        t = hit["t_hit"].numpy().astype(np.float64) + self.near
        normal = hit["primitive_normals"].numpy()
        prim = hit["primitive_ids"].numpy().astype(np.int64)
        prim[~np.isfinite(t)] = -1
        instance = self._face_instance[prim]
        if frame.bodies:
            self._cast_bodies(frame, rays, d_world, c, t, normal, instance)
        return t, normal, instance

    def _cast_bodies(self, frame, rays, d_world, c, t, normal, instance) -> None:
        # Only rays inside the cone of some body's bounding sphere can hit it.
        mask = np.zeros(len(rays), dtype=bool)
        rc = o3d.t.geometry.RaycastingScene()
        ids = []
        R_cw = frame.T_world_camera[:3, :3].T
        for b in frame.bodies:
            faces = visible_faces(b.vertices, b.faces, frame.camera, R_cw, c)
            if not len(faces):
                continue
            lo, hi = b.vertices.min(0), b.vertices.max(0)
            centre = 0.5 * (lo + hi)
            radius = 0.5 * float(np.linalg.norm(hi - lo)) + 1e-3
            to_c = centre - c
            dist = np.linalg.norm(to_c)
            if dist <= radius:
                mask[:] = True
            else:
                mask |= d_world @ (to_c / dist) >= np.sqrt(1 - (radius / dist) ** 2)
            rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(b.vertices, dtype=np.float32)),
                             o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)))
            ids.append(self._base + b.person_index)
        if not ids or not mask.any():
            return
        sel = np.flatnonzero(mask)
        hit = rc.cast_rays(o3d.core.Tensor(rays[sel]), nthreads=0)
        tb = hit["t_hit"].numpy().astype(np.float64) + self.near
        closer = tb < t[sel]
        s = sel[closer]
        t[s] = tb[closer]
        normal[s] = hit["primitive_normals"].numpy()[closer]
        instance[s] = np.asarray(ids, dtype=np.int32)[hit["geometry_ids"].numpy()[closer].astype(np.int64)]

    def render(self, frame: Frame) -> dict[str, np.ndarray]:
        """Render depth, normal, instance and semantic of ``frame`` (shapes in
        :mod:`egogen.render.frame`)."""
        t, normal_w, instance = self.cast(frame)
        H, W = frame.camera.height, frame.camera.width
        d_cam = self._camera_rays(frame.camera)
        valid = np.isfinite(t)
        depth = np.where(valid, t * d_cam[:, 2], 0.0).astype(np.float32)
        normal = camera_frame_normals(normal_w, d_cam, frame.T_world_camera[:3, :3], valid)
        n_people = max((b.person_index for b in frame.bodies), default=-1) + 1
        semantic = instance_to_semantic(frame.scene, max(n_people, 1))[instance]
        return {"depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3),
                "instance": instance.reshape(H, W).astype(np.int32), "semantic": semantic.reshape(H, W)}

    def close(self) -> None:
        """Drop the ray-casting scenes."""
        self._rc = None
        self._scene = None
