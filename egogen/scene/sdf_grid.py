"""A precomputed signed-distance grid of a static scene, sampled trilinearly.

open3d's ``compute_signed_distance`` decides inside/outside by voting rays, about 0.3 M
points/s here: too slow to test every marker of hundreds of agents each step (it took 70 %
of an environment step). Like EgoGen (an SDF voxel grid sampled with ``grid_sample``), the
simulator samples a 5 cm grid computed once per scene: ~3 M points/s (scipy
``map_coordinates``), with the sign speckle of ray voting filtered out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter


@dataclass
class SDFGrid:
    """Signed distance (metres, negative inside objects) on a regular grid.

    Attributes:
        origin: (3,) world position of voxel (0, 0, 0), metres.
        cell: grid spacing, metres.
        values: (X, Y, Z) float32 signed distances at the voxel centres.
    Points outside the grid read the nearest border value.
    """

    origin: np.ndarray
    cell: float
    values: np.ndarray

    @classmethod
    def build(cls, collision, bounds: np.ndarray, cell: float = 0.05, chunk: int = 1_000_000) -> "SDFGrid":
        """Sample ``collision.signed_distance`` on a grid covering ``bounds``.

        Args:
            collision: a :class:`~egogen.scene.collision.CollisionWorld`.
            bounds: (2, 3) world box [min, max] to cover, metres (padded by one cell).
            cell: spacing, metres.
        """
        lo = np.asarray(bounds[0], float) - cell
        hi = np.asarray(bounds[1], float) + cell
        shape = np.ceil((hi - lo) / cell).astype(int) + 1
        axes = [lo[k] + cell * np.arange(shape[k]) for k in range(3)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        vals = np.concatenate([collision.signed_distance(pts[s:s + chunk]) for s in range(0, len(pts), chunk)])
        # open3d decides the sign by voting rays; faces where furniture parts touch flip it at
        # ~1 % of free-space points, as isolated voxels. A 3x3x3 median removes that speckle
        # (free space read as inside: 0.9 % -> 0.3 % on the apartment) and keeps solid interiors.
        vals = median_filter(vals.reshape(shape).astype(np.float32), size=3, mode="nearest")
        return cls(lo, float(cell), vals)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(...) float32 trilinear signed distance at (..., 3) world points, metres."""
        from scipy.ndimage import map_coordinates

        p = (np.asarray(points, np.float64) - self.origin) / self.cell
        shape = p.shape[:-1]
        out = map_coordinates(self.values, p.reshape(-1, 3).T, order=1, mode="nearest", prefilter=False)
        return out.astype(np.float32).reshape(shape)
