"""Batched collision queries on a static scene (open3d ``RaycastingScene``) plus dynamic
obstacles (other people) given per step as vertical capsules, with no rebuild.

All inputs and outputs are world frame, metres, Z up. Arrays are float32 for open3d; the
results are numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from egogen.scene.model import Scene

#: Instance id returned for a ray that hits nothing.
NO_HIT = -1
#: Dynamic obstacle k is reported with instance id DYNAMIC_ID_BASE + k.
DYNAMIC_ID_BASE = 1_000_000


@dataclass
class Capsules:
    """Vertical capsules standing for other people (or any moving obstacle), one step.

    Attributes:
        xy: (M, 2) float world positions of the capsule axes, metres.
        radius: (M,) float radii, metres.
        z0, z1: (M,) float bottom and top of the capsule *axis* (the capsule reaches
            ``z0 - radius`` .. ``z1 + radius``), metres.
    """

    xy: np.ndarray
    radius: np.ndarray
    z0: np.ndarray
    z1: np.ndarray

    @classmethod
    def people(cls, xy: np.ndarray, radius: float = 0.25, height: float = 1.75) -> "Capsules":
        """Capsules for standing people at (M, 2) positions: floor to ``height`` metres."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        m = len(xy)
        r = np.full(m, radius)
        return cls(xy, r, r.copy(), np.full(m, height - radius))

    def __len__(self) -> int:
        return len(self.xy)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(N, M) signed distance of (N, 3) points to each capsule (negative inside), m."""
        p = np.asarray(points, float)
        z = np.clip(p[:, None, 2], self.z0[None], self.z1[None])
        d = np.sqrt(((p[:, None, :2] - self.xy[None]) ** 2).sum(-1) + (p[:, None, 2] - z) ** 2)
        return d - self.radius[None]

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """(N, M) ray parameter t of the first hit of each ray with each capsule, inf if
        none (rays starting inside a capsule report inf for it). ``dirs`` must be unit.

        Ray-capsule intersection after Inigo Quilez (analytic, cylinder side then caps).
        """
        o = np.asarray(origins, float)[:, None, :]
        rd = np.asarray(dirs, float)[:, None, :]
        pa = np.concatenate([self.xy, self.z0[:, None]], 1)[None]
        ba = np.array([0.0, 0.0, 1.0])[None, None] * (self.z1 - self.z0)[None, :, None]
        r = self.radius[None]
        oa = o - pa
        baba = (ba * ba).sum(-1)
        bard = (ba * rd).sum(-1)
        baoa = (ba * oa).sum(-1)
        rdoa = (rd * oa).sum(-1)
        oaoa = (oa * oa).sum(-1)
        a = baba - bard * bard
        b = baba * rdoa - baoa * bard
        c = baba * oaoa - baoa * baoa - r * r * baba
        h = b * b - a * c
        t = np.full(h.shape, np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.sqrt(np.maximum(h, 0))
            t_side = (-b - sq) / a
            y = baoa + t_side * bard
            side_ok = (h >= 0) & (a > 1e-12) & (y > 0) & (y < baba) & (t_side > 0)
            t = np.where(side_ok, t_side, t)
            for cap in (0, 1):  # sphere caps at the two axis ends
                oc = oa - ba * cap
                bb = (rd * oc).sum(-1)
                cc = (oc * oc).sum(-1) - r * r
                hh = bb * bb - cc
                tc = -bb - np.sqrt(np.maximum(hh, 0))
                yc = baoa + tc * bard
                in_cap = (yc <= 0) if cap == 0 else (yc >= baba)
                ok = (hh >= 0) & (tc > 0) & in_cap & ~side_ok
                t = np.where(ok & (tc < t), tc, t)
        return t


@dataclass
class RayHits:
    """Result of :meth:`CollisionWorld.cast_rays` for N rays.

    Attributes:
        t: (N,) float32 distance along the (unit) ray to the first hit, metres; inf if none.
        instance: (N,) int64 instance id hit (``Scene.objects``), ``DYNAMIC_ID_BASE + k``
            for dynamic obstacle k, ``NO_HIT`` (-1) for a miss.
        normal: (N, 3) float32 world-frame unit normal at the hit (zeros for a miss).
        points: (N, 3) float32 world-frame hit points (origin + t * dir; inf for a miss).
    """

    t: np.ndarray
    instance: np.ndarray
    normal: np.ndarray
    points: np.ndarray


class CollisionWorld:
    """Static scene geometry in an open3d ``RaycastingScene`` (built once).

    Args:
        scene: the :class:`~egogen.scene.model.Scene`.
    Signed distance and occupancy are exact for closed meshes whose parts do not
    intersect (the procedural apartment); for open scans the sign is best-effort.
    """

    def __init__(self, scene: Scene):
        self.scene = scene
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(o3d.core.Tensor(np.ascontiguousarray(scene.vertices, np.float32)),
                               o3d.core.Tensor(np.ascontiguousarray(scene.faces, np.uint32)))
        self._face_instance = np.asarray(scene.face_instance, np.int64)

    # ------------------------------------------------------------------ rays
    def cast_rays(self, origins: np.ndarray, dirs: np.ndarray, t_max: float = np.inf,
                  dynamic: Capsules | None = None, ignore: np.ndarray | None = None) -> RayHits:
        """First hit of N rays with the static scene and (optionally) dynamic capsules.

        Args:
            origins: (N, 3) or (..., 3) ray origins, world frame, metres.
            dirs: same shape, unit directions (world frame).
            t_max: hits farther than this (metres) count as misses.
            dynamic: capsules of other people for this step (not stored).
            ignore: (N,) int index of a capsule each ray must not see (its own body), -1 none.
        Returns:
            :class:`RayHits` with arrays shaped like the leading dims of ``origins``.
        """
        shape = np.shape(origins)[:-1]
        o = np.ascontiguousarray(np.reshape(origins, (-1, 3)), np.float32)
        d = np.ascontiguousarray(np.reshape(dirs, (-1, 3)), np.float32)
        res = self._rc.cast_rays(o3d.core.Tensor(np.concatenate([o, d], 1)))
        t = res["t_hit"].numpy()
        prim = res["primitive_ids"].numpy()
        hit = np.isfinite(t) & (t <= t_max)
        inst = np.where(hit, self._face_instance[np.where(hit, prim, 0).astype(np.int64)], NO_HIT)
        normal = np.where(hit[:, None], res["primitive_normals"].numpy(), 0).astype(np.float32)
        t = np.where(hit, t, np.inf).astype(np.float32)
        if dynamic is not None and len(dynamic):
            step = max(1, 4_000_000 // len(dynamic))
            for s in range(0, len(o), step):
                sl = slice(s, s + step)
                td = dynamic.intersect(o[sl], d[sl])
                if ignore is not None:
                    ig = np.asarray(ignore).reshape(-1)[sl]
                    rows = np.nonzero(ig >= 0)[0]
                    td[rows, ig[rows]] = np.inf
                k = np.argmin(td, 1)
                tk = td[np.arange(len(k)), k]
                closer = (tk < t[sl]) & (tk <= t_max)
                idx = np.nonzero(closer)[0] + s
                t[idx] = tk[closer]
                inst[idx] = DYNAMIC_ID_BASE + k[closer]
                p = o[idx] + d[idx] * t[idx, None]
                n = p - np.concatenate([dynamic.xy[k[closer]],
                                        np.clip(p[:, 2:], dynamic.z0[k[closer], None],
                                                dynamic.z1[k[closer], None])], 1)
                normal[idx] = n / np.linalg.norm(n, axis=1, keepdims=True)
        fin = np.isfinite(t)[:, None]
        points = np.where(fin, o + d * np.where(fin[:, 0], t, 0)[:, None], np.inf)
        return RayHits(t.reshape(shape), inst.reshape(shape), normal.reshape(shape + (3,)),
                       points.astype(np.float32).reshape(shape + (3,)))

    # ------------------------------------------------------------------ points
    def signed_distance(self, points: np.ndarray, dynamic: Capsules | None = None,
                        nsamples: int = 3) -> np.ndarray:
        """Signed distance of points to the scene surface: negative inside objects.

        Args:
            points: (..., 3) world-frame points, metres (body vertices, markers ...).
            dynamic: capsules combined by ``min`` with the static distance.
            nsamples: odd number of rays voting on inside/outside (open3d).
        Returns:
            (...) float32 metres.
        """
        shape = np.shape(points)[:-1]
        p = np.ascontiguousarray(np.reshape(points, (-1, 3)), np.float32)
        sd = self._rc.compute_signed_distance(o3d.core.Tensor(p), nsamples=nsamples).numpy()
        if dynamic is not None and len(dynamic):
            sd = np.minimum(sd, dynamic.signed_distance(p).min(1)).astype(np.float32)
        return sd.reshape(shape)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """(...) float32 unsigned distance of (..., 3) points to the static surface, m."""
        shape = np.shape(points)[:-1]
        p = np.ascontiguousarray(np.reshape(points, (-1, 3)), np.float32)
        return self._rc.compute_distance(o3d.core.Tensor(p)).numpy().reshape(shape)

    def occupancy(self, points: np.ndarray, dynamic: Capsules | None = None,
                  nsamples: int = 3) -> np.ndarray:
        """(...) bool: true where (..., 3) points lie inside an object (static or dynamic)."""
        shape = np.shape(points)[:-1]
        p = np.ascontiguousarray(np.reshape(points, (-1, 3)), np.float32)
        occ = self._rc.compute_occupancy(o3d.core.Tensor(p), nsamples=nsamples).numpy() > 0.5
        if dynamic is not None and len(dynamic):
            occ |= (dynamic.signed_distance(p) < 0).any(1)
        return occ.reshape(shape)

    def instance_at(self, points: np.ndarray) -> np.ndarray:
        """(...) int64 instance id of the surface nearest to each (..., 3) point."""
        shape = np.shape(points)[:-1]
        p = np.ascontiguousarray(np.reshape(points, (-1, 3)), np.float32)
        prim = self._rc.compute_closest_points(o3d.core.Tensor(p))["primitive_ids"].numpy()
        return self._face_instance[prim.astype(np.int64)].reshape(shape)
