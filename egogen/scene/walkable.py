"""Walkable map: a 2D grid of the floor a person of a given radius can stand on, made by
ray casting at floor level.

Per cell (centre), one ray is cast straight down from ``z = obstacle_top`` (2.0 m): the cell
is *free* when the first surface hit is an upward-facing surface within ``step`` (0.1 m) of
the floor, so anything between ``step`` and ``obstacle_top`` blocks (a table top, a sofa, a
wardrobe the ray starts inside of: its hit is a back face) and lower steps do not. One ray
cast up from below the floor tells whether there is floor at all (*floor* cells; cells
under objects labelled ``wall`` are not floor). *Walkable*
cells are free cells whose centre is at least ``radius`` from every non-free cell (an exact
Euclidean distance transform). Components are 8-connected; component 1 is the largest.

Grid indexing: ``grid[row, col]``, row along +y, col along +x; cell (r, c) has its centre at
``origin + ((c + 0.5) * cell, (r + 0.5) * cell)`` in world metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from egogen.npz import save_npz
from egogen.scene.collision import CollisionWorld

DEFAULTS = dict(cell=0.05, radius=0.25, step=0.10, obstacle_top=2.0)


@dataclass
class WalkableMap:
    """Walkable floor of a scene.

    Attributes:
        origin: (2,) float64 world xy of the grid's lower-left corner, metres.
        cell: cell size, metres.
        radius: agent radius used for ``walkable``, metres.
        floor: (H, W) bool, there is floor in the cell (with or without furniture on it).
        free: (H, W) bool, floor with no obstacle between ``step`` and ``obstacle_top``.
        walkable: (H, W) bool, free cells at least ``radius`` from any non-free cell.
        clearance: (H, W) float32 distance (m) from the cell centre to the nearest
            non-free cell's edge (0 on non-free cells).
        components: (H, W) int32 walkable component id, 0 = not walkable, 1 = largest.
        params: the parameters used (cell, radius, step, obstacle_top).
    """

    origin: np.ndarray
    cell: float
    radius: float
    floor: np.ndarray
    free: np.ndarray
    walkable: np.ndarray
    clearance: np.ndarray
    components: np.ndarray
    params: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) = (rows along y, cols along x)."""
        return self.floor.shape

    def cell_area(self) -> float:
        return self.cell * self.cell

    @property
    def floor_area(self) -> float:
        """Floor area in m2 (cells with floor)."""
        return float(self.floor.sum()) * self.cell_area()

    @property
    def walkable_area(self) -> float:
        """Walkable area in m2 (all components)."""
        return float(self.walkable.sum()) * self.cell_area()

    @property
    def n_components(self) -> int:
        """Number of walkable components."""
        return int(self.components.max())

    def component_areas(self) -> list[float]:
        """Area (m2) of each walkable component, largest first."""
        counts = np.bincount(self.components.ravel())[1:]
        return [float(c) * self.cell_area() for c in counts]

    def world_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world xy (m) -> (..., 2) int64 (row, col); may be outside the grid."""
        xy = np.asarray(xy, float)
        cr = np.floor((xy - self.origin) / self.cell).astype(np.int64)
        return cr[..., ::-1]

    def cell_to_world(self, rc: np.ndarray) -> np.ndarray:
        """(..., 2) (row, col) -> (..., 2) float64 world xy of the cell centres, m."""
        rc = np.asarray(rc)
        return self.origin + (rc[..., ::-1] + 0.5) * self.cell

    def _lookup(self, grid: np.ndarray, xy: np.ndarray, fill):
        xy = np.asarray(xy, float)
        H, W = grid.shape
        c = np.floor((xy[..., 0] - self.origin[0]) / self.cell)
        r = np.floor((xy[..., 1] - self.origin[1]) / self.cell)
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        flat = np.where(inside, r * W + c, 0).astype(np.intp)
        return np.where(inside, grid.ravel()[flat], fill)

    def is_walkable(self, xy: np.ndarray) -> np.ndarray:
        """(...) bool for (..., 2) world xy points (False outside the grid)."""
        return self._lookup(self.walkable, xy, False).astype(bool)

    def is_free(self, xy: np.ndarray) -> np.ndarray:
        """(...) bool: floor with no obstacle at (..., 2) world xy points (a foot may stand
        there; ``is_walkable`` also keeps the agent radius). False outside the grid."""
        return self._lookup(self.free, xy, False).astype(bool)

    def component_of(self, xy: np.ndarray) -> np.ndarray:
        """(...) int32 component id at (..., 2) world xy points (0 = not walkable)."""
        return self._lookup(self.components, xy, 0)

    def clearance_at(self, xy: np.ndarray) -> np.ndarray:
        """(...) float32 clearance (m) at (..., 2) world xy points (0 outside)."""
        return self._lookup(self.clearance, xy, 0.0)

    # ------------------------------------------------------------------ io
    def save(self, path: Path) -> None:
        """Write as a compressed npz."""
        save_npz(path, {"origin": self.origin, "cell": np.asarray(self.cell), "radius": np.asarray(self.radius),
                        "floor": self.floor, "free": self.free, "walkable": self.walkable,
                        "clearance": self.clearance, "components": self.components,
                        "params": np.array([self.params[k] for k in sorted(self.params)]),
                        "param_names": np.array(sorted(self.params))})

    @classmethod
    def load(cls, path: Path) -> "WalkableMap":
        """Read a map written by :meth:`save`."""
        with np.load(path) as z:
            params = {str(k): float(v) for k, v in zip(z["param_names"], z["params"])}
            return cls(z["origin"], float(z["cell"]), float(z["radius"]), z["floor"], z["free"],
                       z["walkable"], z["clearance"], z["components"], params)


def build_walkable_map(world: CollisionWorld, cell: float = DEFAULTS["cell"],
                       radius: float = DEFAULTS["radius"], step: float = DEFAULTS["step"],
                       obstacle_top: float = DEFAULTS["obstacle_top"],
                       bounds_xy: np.ndarray | None = None) -> WalkableMap:
    """Ray-cast the walkable map of a scene whose floor is at z = 0.

    Args:
        world: collision world of the scene (metres, Z up).
        cell: grid cell size, metres (5 cm default).
        radius: agent radius, metres.
        step: surfaces up to this height count as floor (steps), metres.
        obstacle_top: surfaces up to this height block, metres.
        bounds_xy: (2, 2) [[xmin, ymin], [xmax, ymax]] region; default: the scene bounds.
    Returns:
        The :class:`WalkableMap`.
    Raises:
        ValueError: if ``cell`` or ``radius`` is not positive, or the region is empty.
    """
    if cell <= 0 or radius < 0:
        raise ValueError(f"cell ({cell}) must be > 0 and radius ({radius}) >= 0")
    b = world.scene.bounds[:, :2] if bounds_xy is None else np.asarray(bounds_xy, float)
    origin = np.floor(b[0] / cell - 1e-6) * cell - cell
    w = int(np.ceil((b[1, 0] - origin[0]) / cell)) + 1
    h = int(np.ceil((b[1, 1] - origin[1]) / cell)) + 1
    if w <= 0 or h <= 0:
        raise ValueError("empty region for the walkable map")
    ys, xs = np.mgrid[0:h, 0:w]
    centres = origin + (np.stack([xs, ys], -1) + 0.5) * cell  # (h, w, 2)
    n = h * w
    xy = centres.reshape(n, 2)
    down = world.cast_rays(np.column_stack([xy, np.full(n, obstacle_top)]),
                           np.tile([0.0, 0.0, -1.0], (n, 1)), t_max=obstacle_top + step)
    z_hit = obstacle_top - down.t
    free = np.isfinite(down.t) & (np.abs(z_hit) <= step) & (down.normal[:, 2] > 0.5)
    below = float(world.scene.bounds[0, 2]) - 1.0
    up = world.cast_rays(np.column_stack([xy, np.full(n, below)]),
                         np.tile([0.0, 0.0, 1.0], (n, 1)), t_max=step - below)
    floor = np.isfinite(up.t) & (below + up.t >= -0.5) | free
    wall_ids = [o.instance_id for o in world.scene.objects if o.label == "wall"]
    if wall_ids:  # wall footprints are not floor area
        floor &= ~np.isin(down.instance, wall_ids)
    free = free.reshape(h, w)
    floor = floor.reshape(h, w)
    dist = ndimage.distance_transform_edt(free) * cell - cell / 2
    clearance = np.where(free, np.maximum(dist, 0), 0).astype(np.float32)
    walkable = free & (clearance >= radius)
    labels, k = ndimage.label(walkable, structure=np.ones((3, 3), bool))
    if k:
        sizes = np.bincount(labels.ravel())[1:]
        order = np.argsort(-sizes, kind="stable")
        remap = np.zeros(k + 1, np.int32)
        remap[order + 1] = np.arange(1, k + 1, dtype=np.int32)
        labels = remap[labels]
    params = dict(cell=cell, radius=radius, step=step, obstacle_top=obstacle_top)
    return WalkableMap(origin, float(cell), float(radius), floor, free, walkable, clearance,
                       labels.astype(np.int32), params)
