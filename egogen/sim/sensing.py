"""Egocentric depth sensing for the policy: a grid of rays cast from each agent's eyes.

EgoGen's policy sensed a 32-ray horizontal fan intersected with a 2D walkable polygon
(blind to obstacle height and to other people). egogen casts a 3D grid of rays from the
eyes into the real scene mesh (open3d) and into the other people (capsules), all agents in
one batched call. The grid is egocentric in heading (it turns with the head's yaw) and
gravity-aligned in pitch, so a level floor always looks the same and obstacles stand out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egogen.scene.collision import Capsules, CollisionWorld


@dataclass(frozen=True)
class SensingConfig:
    """Ray grid of the ego-sensing.

    Attributes:
        h_rays: rays across the horizontal field of view.
        v_rays: rows of rays (elevation angles).
        h_fov_deg: horizontal field of view centred on the heading, degrees.
        elevation_deg: (lowest, highest) elevation of the rows, degrees (negative = down).
        max_range: distances are clipped here, metres.
    """

    h_rays: int = 32
    v_rays: int = 4
    h_fov_deg: float = 180.0
    elevation_deg: tuple[float, float] = (-40.0, 0.0)
    max_range: float = 7.0

    @property
    def num_rays(self) -> int:
        return self.h_rays * self.v_rays

    def local_directions(self) -> np.ndarray:
        """(v_rays, h_rays, 3) unit ray directions in the heading frame (x forward, y left, z up)."""
        az = np.radians(np.linspace(self.h_fov_deg / 2, -self.h_fov_deg / 2, self.h_rays))  # left -> right
        el = np.radians(np.linspace(self.elevation_deg[1], self.elevation_deg[0], self.v_rays))  # up -> down
        e, a = np.meshgrid(el, az, indexing="ij")
        return np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1)


def ego_depth(world: CollisionWorld, eyes: np.ndarray, heading: np.ndarray, cfg: SensingConfig = SensingConfig(),
              others: Capsules | None = None, self_index: np.ndarray | None = None) -> np.ndarray:
    """Distances seen from each agent's eyes along the ego ray grid.

    Args:
        world: collision world of the static scene.
        eyes: (N, 3) eye positions (world frame, metres).
        heading: (N,) yaw of the head's forward direction about +Z, radians (0 = +x).
        cfg: the ray grid.
        others: capsules of the people in the scene this step (may include the agents
            themselves; see ``self_index``), or None.
        self_index: (N,) index into ``others`` of each agent's own capsule (-1: none), so
            an agent does not see itself.
    Returns:
        (N, v_rays, h_rays) float32 distances in metres, clipped to ``cfg.max_range``
        (misses read ``max_range``).
    """
    eyes = np.asarray(eyes, np.float64).reshape(-1, 3)
    n = len(eyes)
    local = cfg.local_directions()  # (v, h, 3)
    c, s = np.cos(heading)[:, None, None], np.sin(heading)[:, None, None]
    dirs = np.stack([c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1],
                     np.broadcast_to(local[..., 2], (n,) + local.shape[:2])], axis=-1)  # (N, v, h, 3)
    origins = np.broadcast_to(eyes[:, None, None, :], dirs.shape)
    ignore = None
    if others is not None and self_index is not None:
        ignore = np.broadcast_to(np.asarray(self_index)[:, None, None], dirs.shape[:3]).reshape(-1)
    hits = world.cast_rays(origins.reshape(-1, 3), dirs.reshape(-1, 3), t_max=cfg.max_range,
                           dynamic=others, ignore=ignore)
    return np.minimum(hits.t, cfg.max_range).reshape(n, cfg.v_rays, cfg.h_rays).astype(np.float32)


def normalise_depth(depth: np.ndarray, cfg: SensingConfig = SensingConfig()) -> np.ndarray:
    """Distances (metres) -> [-1, 1] as EgoGen scales its ray observation: 2 d / max_range - 1."""
    return (2.0 * np.clip(depth, 0.0, cfg.max_range) / cfg.max_range - 1.0).astype(np.float32)
