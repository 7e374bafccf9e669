"""``raycast`` engine: depth, normals and segmentation by open3d ray casting, no GL.

The static scene is one open3d ``RaycastingScene`` built once per :class:`Scene`; every
pixel's ray is cast against it each frame (open3d's multi-threaded cast). The people of a
frame go into a second, small ray-casting scene built per frame, holding only the body
faces that can be the first hit of some pixel ray (:func:`visible_faces`: front-facing, and
covering at least one pixel centre inside the image), and only the rays of the pixels in
the bodies' image windows are cast against it; where a body is nearer, its hit replaces
the static one. Culling keeps the per-frame bounding-volume build small (a person 2.2 m
away at 256 px keeps 3.5k of its 15.8k front faces: most of its triangles fall between
pixel centres) and the body cast to the pixels the kept faces can cover. The culling is
exact: the same hits as casting every pixel against every front face (tested).

Rays come from :meth:`CameraModel.unproject` of every pixel centre, so any camera model
works (pinhole and fisheye alike); the first hit of each ray at distance t along the unit
ray d gives planar depth ``t * d_z``. This engine is the geometric reference the other
engines are tested against.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from egogen.render.camera import CameraModel
from egogen.render.frame import Frame
from egogen.render.labels import BACKGROUND, instance_to_semantic, person_id_base
from egogen.scene.model import Scene

PIXEL_EPS = 0.01
"""Slack (pixels) of the pixel-centre culling: a face is kept if its projected bounding box,
grown by this much, holds a pixel centre (float32 rays land within ~1e-4 px of the centre)."""


def pixel_rays(camera: CameraModel) -> np.ndarray:
    """(H, W, 3) float64 unit viewing rays of every pixel centre, OpenCV camera frame."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    return camera.unproject(np.stack([u, v], axis=-1))


def _face_windows(vertices: np.ndarray, faces: np.ndarray, camera: CameraModel, R_camera_world: np.ndarray,
                  centre: np.ndarray, eps: float, bounds: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The faces of :func:`visible_faces` and, for each, the pixel window that holds every
    pixel centre whose ray can hit it.

    Args: as :func:`visible_faces`; ``bounds``: (4, 3) normals n (camera frame) of planes
        through the camera centre with n . d >= 0 for every pixel ray d, all of which point
        ahead (d_z > 0); None if some pixel ray does not point ahead.
    Returns:
        faces: (F', 3) kept faces, order kept.
        windows: (F', 4) int64 (u0, u1, v0, v1), inclusive, inside the image.
    """
    W, H = camera.width, camera.height
    p = (vertices - centre) @ R_camera_world.T  # camera frame
    if bounds is not None:
        # A face with its three vertices beyond one bounding plane of the pixel rays (or
        # behind the camera) cannot be hit: drop it before anything costs per face.
        side = p @ bounds.T < 0
        code = (side[:, 0] | (side[:, 1] << 1) | (side[:, 2] << 2) | (side[:, 3] << 3)).astype(np.uint8)
        code |= (p[:, 2] <= 0).astype(np.uint8) << 4
    # Per-corner values are gathered from per-vertex arrays with the corner indices as
    # (3, F) rows, and faces are tracked by index until the end: the same numbers as
    # gathering (F, 3) corner points, without copying faces at each step.
    ft = np.ascontiguousarray(faces.T)
    idx = np.arange(len(faces))
    if bounds is not None:
        fc = code[ft]
        inside = (fc[0] & fc[1] & fc[2]) == 0
        if not inside.all():
            idx = np.flatnonzero(inside)
            ft = ft[:, idx]
    x, y, z = np.ascontiguousarray(p.T)
    X, Y, Z = x[ft], y[ft], z[ft]
    # Front-facing: the camera centre o is on the outer side, (a - o) . ((b - a) x (c - a)) < 0
    # for faces counter-clockwise from outside; with o at the origin that is det[a, b, c].
    det = (X[0] * (Y[1] * Z[2] - Z[1] * Y[2]) + Y[0] * (Z[1] * X[2] - X[1] * Z[2])
           + Z[0] * (X[1] * Y[2] - Y[1] * X[2]))
    front = np.flatnonzero(det < 0)
    idx = idx[front]
    ft = ft[:, front]
    # corners projected once per vertex (projection is per point: the same values per face)
    uv, ok = camera.project(p)
    u, v = np.ascontiguousarray(uv.T)
    U, V = u[ft], v[ft]
    all_ok = ok[ft[0]] & ok[ft[1]] & ok[ft[2]]
    lo_u, hi_u = np.minimum(np.minimum(U[0], U[1]), U[2]), np.maximum(np.maximum(U[0], U[1]), U[2])
    lo_v, hi_v = np.minimum(np.minimum(V[0], V[1]), V[2]), np.maximum(np.maximum(V[0], V[1]), V[2])
    pinhole = camera.model == "pinhole"
    pf = None
    if not pinhole:
        # The projection of a straight edge curves: each edge's projected midpoint widens
        # the box, plus the midpoint's distance from the chord as slack.
        pf = [p[ft[k]] for k in range(3)]
        uvs = [np.stack([U[k], V[k]], axis=-1) for k in range(3)]
        for k in range(3):
            m_uv, m_ok = camera.project(0.5 * (pf[k] + pf[(k + 1) % 3]))
            dev = np.abs(m_uv - 0.5 * (uvs[k] + uvs[(k + 1) % 3])).max(axis=1)
            all_ok &= m_ok
            lo_u, hi_u = np.minimum(lo_u, m_uv[:, 0] - dev), np.maximum(hi_u, m_uv[:, 0] + dev)
            lo_v, hi_v = np.minimum(lo_v, m_uv[:, 1] - dev), np.maximum(hi_v, m_uv[:, 1] + dev)
    win = np.stack([np.maximum(np.ceil(lo_u - eps), 0), np.minimum(np.floor(hi_u + eps), W - 1),
                    np.maximum(np.ceil(lo_v - eps), 0), np.minimum(np.floor(hi_v + eps), H - 1)], axis=1)
    part = np.flatnonzero(~all_ok)  # partly (or, without bounds, wholly) behind the camera
    if len(part):
        win[part] = [0, W - 1, 0, H - 1]
        if bounds is not None:  # rays hit only its part in front (z > 0): bound that
            pp = [p[ft[k, part]] for k in range(3)] if pf is None else [q[part] for q in pf]
            win[part] = _front_part_windows(pp, camera, eps)
    keep = np.flatnonzero((win[:, 0] <= win[:, 1]) & (win[:, 2] <= win[:, 3]))
    return faces[idx[keep]], win[keep].astype(np.int64)


def _front_part_windows(tri: list[np.ndarray], camera: CameraModel, eps: float) -> np.ndarray:
    """(N, 4) pixel windows of the parts with z >= 0 of N triangles (three (N, 3) corner
    arrays, camera frame) that cross the plane z = 0 (forward-looking cameras only)."""
    W, H = camera.width, camera.height
    n = len(tri[0])
    # the clipped triangle's corners: each edge's endpoints moved to z = 0 where behind
    pts = []
    for k in range(3):
        A, B = tri[k], tri[(k + 1) % 3]
        for P, Q in ((A, B), (B, A)):
            behind = P[:, 2] <= 0
            with np.errstate(divide="ignore", invalid="ignore"):
                s_ = np.where(behind, P[:, 2] / (P[:, 2] - Q[:, 2]), 0.0)[:, None]
            X = P + s_ * (Q - P)
            X[behind, 2] = 0.0
            valid = ~(behind & (Q[:, 2] <= 0))  # edge wholly behind: no point
            pts.append((X, valid))
    if camera.model == "pinhole":
        # points at z = 0 project to infinity in the direction (x, y): open the box there
        lo, hi = np.full((n, 2), np.inf), np.full((n, 2), -np.inf)
        for X, valid in pts:
            at0 = valid & (X[:, 2] <= 0)
            fin = valid & ~at0
            uv, _ = camera.project(np.where(fin[:, None], X, [0.0, 0.0, 1.0]))
            lo = np.where(fin[:, None], np.minimum(lo, uv), lo)
            hi = np.where(fin[:, None], np.maximum(hi, uv), hi)
            tol = 1e-9 * (1 + np.abs(X[:, :2]))
            lo = np.where(at0[:, None] & (X[:, :2] <= tol), -np.inf, lo)
            hi = np.where(at0[:, None] & (X[:, :2] >= -tol), np.inf, hi)
    else:
        # fisheye: z = 0 maps to the 90-degree circle; bound every segment between corners
        # (the clipped polygon's edges among them) by its projected ends and midpoint
        lo, hi = np.full((n, 2), np.inf), np.full((n, 2), -np.inf)
        proj = [(camera.project(X)[0], valid) for X, valid in pts]
        for i in range(len(pts)):
            for j in range(i, len(pts)):
                ok = (pts[i][1] & pts[j][1])[:, None]
                m_uv, _ = camera.project(0.5 * (pts[i][0] + pts[j][0]))
                dev = np.abs(m_uv - 0.5 * (proj[i][0] + proj[j][0])).max(axis=1, keepdims=True)
                lo_ij = np.minimum(np.minimum(proj[i][0], proj[j][0]), m_uv - dev)
                hi_ij = np.maximum(np.maximum(proj[i][0], proj[j][0]), m_uv + dev)
                lo = np.where(ok, np.minimum(lo, lo_ij), lo)
                hi = np.where(ok, np.maximum(hi, hi_ij), hi)
    lo = np.maximum(np.ceil(np.clip(lo - eps, -1, [W + 1, H + 1])), 0)
    hi = np.minimum(np.floor(np.clip(hi + eps, -1, [W + 1, H + 1])), [W - 1, H - 1])
    return np.stack([lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1]], axis=1)


def ray_bounds(rays: np.ndarray, slack: float = 1e-6) -> np.ndarray | None:
    """(4, 3) normals n of planes through the camera centre with n . d >= 0 for all the
    (N, 3) unit rays d (left, right, top, bottom wedges in x-z and y-z, ``slack`` radians
    wider), or None when some ray does not point ahead (d_z <= 0)."""
    if rays[:, 2].min() <= 0:
        return None
    ax, ay = np.arctan2(rays[:, 0], rays[:, 2]), np.arctan2(rays[:, 1], rays[:, 2])
    a0, a1, b0, b1 = ax.min() - slack, ax.max() + slack, ay.min() - slack, ay.max() + slack
    return np.array([[np.cos(a0), 0.0, -np.sin(a0)], [-np.cos(a1), 0.0, np.sin(a1)],
                     [0.0, np.cos(b0), -np.sin(b0)], [0.0, -np.cos(b1), np.sin(b1)]])


def visible_faces(vertices: np.ndarray, faces: np.ndarray, camera: CameraModel, R_camera_world: np.ndarray,
                  centre: np.ndarray, eps: float = PIXEL_EPS) -> np.ndarray:
    """Faces of a closed mesh that can be the first hit of a pixel ray: front-facing as
    seen from the camera centre, and covering at least one pixel centre of the image.

    A face whose projected bounding box (grown by ``eps`` pixels) holds no pixel centre
    inside the image is dropped; fisheye projections bend edges, so there each edge's
    projected midpoint widens the box, with the midpoint's distance from the chord as slack.
    When every pixel ray points ahead (pinhole; fisheye up to 90 degrees off the axis),
    faces beyond one bounding plane of the rays or wholly behind the camera are dropped,
    and a face crossing the camera plane is bounded by its part in front (pinhole: the box
    opens towards where its edges cross the plane). Otherwise faces with a vertex behind
    the camera are kept.

    Args:
        vertices: (V, 3) world vertices, metres; faces: (F, 3) counter-clockwise from outside.
        camera: intrinsics; R_camera_world: (3, 3) world -> camera rotation; centre: (3,)
            camera centre, world.
        eps: slack of the pixel-centre test, pixels.
    Returns:
        (F', 3) the kept faces (a subset, order kept).
    """
    bounds = ray_bounds(pixel_rays(camera).reshape(-1, 3))
    return _face_windows(np.asarray(vertices, np.float64), np.asarray(faces), camera, R_camera_world,
                         np.asarray(centre, np.float64), eps, bounds)[0]


class _CameraRays:
    """Per-camera cache: unit pixel rays (float64, camera frame) and the float32 ray buffer
    (origin, direction) that open3d reads without a copy."""

    def __init__(self, camera: CameraModel):
        self.d = pixel_rays(camera).reshape(-1, 3)
        self.dz = np.ascontiguousarray(self.d[:, 2])
        self.d32 = self.d.astype(np.float32)
        self.bounds = ray_bounds(self.d)
        self.dh = np.concatenate([self.d, np.ones((len(self.d), 1))], axis=1)  # (N, 4) homogeneous
        self.buf64 = np.empty((len(self.d), 6))
        self.buf = np.empty((len(self.d), 6), dtype=np.float32)
        self.tensor = o3d.core.Tensor.from_numpy(self.buf)

    def set_pose(self, T_world_camera: np.ndarray, near: float) -> None:
        """Fill the ray buffer: rows (origin, direction), world frame, from ``T_world_camera``
        (origins moved ``near`` metres along the rays)."""
        M = np.zeros((4, 6))
        M[:3, 3:] = T_world_camera[:3, :3].T
        M[3, :3] = T_world_camera[:3, 3]
        if near > 0:
            M[:3, :3] = near * M[:3, 3:]
        np.matmul(self.dh, M, out=self.buf64)  # one product: origins and world directions
        self.buf[...] = self.buf64


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
        self._rays: dict[CameraModel, _CameraRays] = {}
        self._lut: dict[int, np.ndarray] = {}

    def _prepare(self, scene: Scene) -> None:
        if self._scene is scene:
            return
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32)),
                         o3d.core.Tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32)))
        self._rc = rc
        self._scene = scene
        # primitive id -> instance; open3d's "no hit" id (2^32 - 1) is clipped to the last entry
        self._face_instance = np.append(scene.face_instance, BACKGROUND).astype(np.int32)
        self._base = person_id_base(scene)
        self._lut = {}

    def _camera_rays(self, camera: CameraModel) -> _CameraRays:
        if camera not in self._rays:
            self._rays[camera] = _CameraRays(camera)
        return self._rays[camera]

    def cast(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits of every pixel's ray.

        Returns:
            t: (H*W,) float64 distance along the unit ray, metres, inf for no hit.
            normal_world: (H*W, 3) float32 unit geometric normals (triangle winding), world frame.
            instance: (H*W,) int32 instance ids, -1 for no hit.
        """
        self._prepare(frame.scene)
        cr = self._camera_rays(frame.camera)
        cr.set_pose(frame.T_world_camera, self.near)
        hit = self._rc.cast_rays(cr.tensor, nthreads=0)
        t = hit["t_hit"].numpy().astype(np.float64)
        t += self.near
        normal = hit["primitive_normals"].numpy()
        prim = np.minimum(hit["primitive_ids"].numpy(), len(self._face_instance) - 1)
        instance = self._face_instance[prim]
        if frame.bodies:
            self._cast_bodies(frame, cr, t, normal, instance)
        return t, normal, instance

    def _cast_bodies(self, frame, cr, t, normal, instance) -> None:
        cam = frame.camera
        H, W = cam.height, cam.width
        R_cw = frame.T_world_camera[:3, :3].T
        c = frame.T_world_camera[:3, 3]
        rc = None
        ids, windows = [], []
        for b in frame.bodies:
            faces, win = _face_windows(b.vertices, b.faces, cam, R_cw, c, PIXEL_EPS, cr.bounds)
            if not len(faces):
                continue
            if rc is None:
                rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(b.vertices, dtype=np.float32)),
                             o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)))
            ids.append(self._base + b.person_index)
            windows.append(win)
        if rc is None:
            return
        # pixels in the union of the faces' windows (2-D difference array, then prefix sums),
        # inside the windows' bounding box only
        win = np.concatenate(windows)
        ua, va = win[:, 0].min(), win[:, 2].min()
        u0, u1, v0, v1 = win[:, 0] - ua, win[:, 1] + 1 - ua, win[:, 2] - va, win[:, 3] + 1 - va
        bw, bh = int(u1.max()), int(v1.max())
        W1 = bw + 1
        corners = np.concatenate([v0 * W1 + u0, v1 * W1 + u1, v0 * W1 + u1, v1 * W1 + u0])
        weights = np.repeat([1, 1, -1, -1], len(win))
        diff = np.bincount(corners, weights, minlength=(bh + 1) * W1).reshape(bh + 1, W1)
        rows, cols = np.nonzero(diff.cumsum(0).cumsum(1)[:bh, :bw] > 0.5)
        sel = (rows + va) * W + (cols + ua)
        hit = rc.cast_rays(o3d.core.Tensor.from_numpy(cr.buf[sel]), nthreads=0)
        tb = hit["t_hit"].numpy().astype(np.float64)
        tb += self.near
        closer = tb < t[sel]
        s = sel[closer]
        t[s] = tb[closer]
        normal[s] = hit["primitive_normals"].numpy()[closer]
        instance[s] = np.asarray(ids, dtype=np.int32)[hit["geometry_ids"].numpy()[closer]]

    def _semantic_lut(self, scene: Scene, n_people: int) -> np.ndarray:
        if n_people not in self._lut:
            self._lut[n_people] = instance_to_semantic(scene, n_people)
        return self._lut[n_people]

    def render(self, frame: Frame) -> dict[str, np.ndarray]:
        """Render depth, normal, instance and semantic of ``frame`` (shapes in
        :mod:`egogen.render.frame`)."""
        t, normal_w, instance = self.cast(frame)
        H, W = frame.camera.height, frame.camera.width
        cr = self._camera_rays(frame.camera)
        invalid = ~np.isfinite(t)
        with np.errstate(invalid="ignore"):  # inf * 0 off a fisheye's 90 degrees
            depth = (t * cr.dz).astype(np.float32)
        depth[invalid] = 0.0
        # world -> camera normals (open3d's are unit), turned to face the camera
        normal = normal_w @ frame.T_world_camera[:3, :3].astype(np.float32)
        facing = np.einsum("ij,ij->i", normal, cr.d32)
        normal *= np.where(facing > 0, np.float32(-1), np.float32(1))[:, None]  # exact negation
        normal[invalid] = 0.0
        n_people = max((b.person_index for b in frame.bodies), default=-1) + 1
        semantic = self._semantic_lut(frame.scene, max(n_people, 1))[instance]
        return {"depth": depth.reshape(H, W), "normal": normal.reshape(H, W, 3),
                "instance": instance.reshape(H, W), "semantic": semantic.reshape(H, W)}

    def close(self) -> None:
        """Drop the ray-casting scenes."""
        self._rc = None
        self._scene = None
