"""Collision-free paths on a walkable map.

Dijkstra on the 8-connected grid of walkable cells (scipy.sparse.csgraph, C speed), then
line-of-sight smoothing ("string pulling"): a waypoint is dropped when the straight
segment that skips it stays on walkable cells. Because walkable cells already keep the
agent radius from obstacles, every point of the returned polyline does too.

People do not shave furniture and door frames the way a shortest path does: with a
``comfort`` distance the graph's edges cost more where the clearance (distance to the
nearest obstacle) is below it, ``length * (1 + penalty * (comfort - clearance) / comfort)``,
and smoothing never takes a shortcut closer to obstacles than ``comfort`` or the grid path
it replaces, so paths keep to the middle of corridors and doorways (the clearance-weighted
cost of crowd and robot navigation planners).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from egogen.scene.walkable import WalkableMap


@dataclass
class PathResult:
    """Outcome of :func:`plan_path`.

    Attributes:
        reachable: True when a path exists.
        waypoints: (K, 2) float64 world xy, metres, start first and goal last (K >= 2);
            empty (0, 2) when unreachable.
        length: polyline length, metres (inf when unreachable).
        reason: why no path exists ("" when reachable), e.g. "start (1.00, 2.00) is not
            walkable (inside furniture or closer than 0.25 m to an obstacle)".
    """

    reachable: bool
    waypoints: np.ndarray
    length: float
    reason: str = ""

    def __bool__(self) -> bool:
        return self.reachable


class GridGraph:
    """The walkable cells of a map as a sparse graph (built once, reused per query).

    Args:
        wm: the walkable map.
        comfort: metres; edges whose clearance is below it cost more (0 = plain shortest
            paths, whose graph distances are geodesic distances).
        penalty: relative extra cost of an edge at zero clearance.
    """

    def __init__(self, wm: WalkableMap, comfort: float = 0.0, penalty: float = 4.0):
        self.wm, self.comfort = wm, float(comfort)
        h, w = wm.shape
        idx = -np.ones((h, w), np.int64)
        cells = np.argwhere(wm.walkable)
        idx[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
        self.idx, self.cells = idx, cells
        rows, cols, wts = [], [], []
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            r2, c2 = cells[:, 0] + dr, cells[:, 1] + dc
            ok = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
            a = np.nonzero(ok)[0]
            b = idx[r2[ok], c2[ok]]
            keep = b >= 0
            if dr and dc:  # no corner cutting: both orthogonal neighbours must be walkable
                keep &= wm.walkable[cells[a, 0] + dr, cells[a, 1]] & wm.walkable[cells[a, 0], cells[a, 1] + dc]
            a, b = a[keep], b[keep]
            rows += [a, b]
            cols += [b, a]
            wt = np.full(len(a), wm.cell * np.hypot(dr, dc))
            if self.comfort > 0:
                c = np.minimum(wm.clearance[cells[a, 0], cells[a, 1]], wm.clearance[cells[b, 0], cells[b, 1]])
                wt = wt * (1 + penalty * np.clip(self.comfort - c, 0, None) / self.comfort)
            wts.append(np.concatenate([wt, wt]))
        n = len(cells)
        self.graph = csr_matrix((np.concatenate(wts) if wts else [], (np.concatenate(rows) if rows else [],
                                 np.concatenate(cols) if cols else [])), shape=(n, n))

    def node(self, xy: np.ndarray) -> int:
        """Graph node of a world point, -1 if not on a walkable cell."""
        r, c = self.wm.world_to_cell(np.asarray(xy, float))
        if not (0 <= r < self.wm.shape[0] and 0 <= c < self.wm.shape[1]):
            return -1
        return int(self.idx[r, c])

    def distances_from(self, xy: np.ndarray, limit: float = np.inf):
        """Geodesic distance (m) from a point to every node, and the predecessor array."""
        s = self.node(xy)
        if s < 0:
            raise ValueError(f"point {tuple(np.round(xy, 2))} is not walkable")
        return dijkstra(self.graph, indices=s, return_predecessors=True, limit=limit)


def segment_clear(wm: WalkableMap, a: np.ndarray, b: np.ndarray, min_clearance: float = 0.0) -> bool:
    """True when the straight segment a -> b ((2,) world xy) stays on walkable cells (and at
    least ``min_clearance`` metres from obstacles), sampled every quarter cell."""
    return bool(segments_clear(wm, np.asarray(a, float), np.asarray(b, float)[None], min_clearance)[0])


def segments_clear(wm: WalkableMap, a: np.ndarray, bs: np.ndarray, min_clearance=0.0) -> np.ndarray:
    """(J,) bool: which straight segments a -> bs[j] stay on walkable cells (and at least
    ``min_clearance`` (scalar or (J,)) metres from obstacles), sampled every quarter cell or
    finer; one vectorised lookup for all J segments."""
    bs = np.asarray(bs, float).reshape(-1, 2)
    if len(bs) == 0:
        return np.zeros(0, bool)
    n = max(2, int(np.ceil(np.linalg.norm(bs - a, axis=1).max() / (wm.cell / 4))) + 1)
    pts = a + (bs - a)[:, None] * np.linspace(0, 1, n)[None, :, None]  # (J, n, 2)
    # walkable == clearance >= radius (clearance is 0 off the free floor): one grid lookup
    clr = wm.clearance_at(pts).min(axis=1)
    ok = clr >= np.float32(wm.radius) if wm.radius > 0 else wm.is_walkable(pts).all(axis=1)
    mc = np.broadcast_to(np.asarray(min_clearance, float), ok.shape)
    if (mc > 0).any():
        ok &= clr >= mc - 1e-6
    return ok


def smooth(wm: WalkableMap, pts: np.ndarray, comfort: float = 0.0) -> np.ndarray:
    """Greedy line-of-sight shortcutting of a (K, 2) polyline: from each kept point, jump to
    the farthest later point in sight; keeps both ends. With ``comfort`` > 0 a shortcut must
    keep min(comfort, the skipped points' clearance) from obstacles (half a cell of slack for
    the grid)."""
    clear = wm.clearance_at(pts) if comfort > 0 else np.zeros(len(pts))
    out = [pts[0]]
    i = 0
    while i < len(pts) - 1:
        need = np.minimum(comfort, np.minimum.accumulate(clear[i:])) - wm.cell / 2 if comfort > 0 else None
        j = i + 1
        for hi in range(len(pts), i + 2, -64):  # farthest points first, 64 at a time
            cand = np.arange(max(i + 2, hi - 64), hi)
            ok = segments_clear(wm, pts[i], pts[cand], need[cand - i] if need is not None else 0.0)
            if ok.any():
                j = int(cand[np.flatnonzero(ok)[-1]])
                break
        out.append(pts[j])
        i = j
    return np.array(out)


def plan_path(wm: WalkableMap, start: np.ndarray, goal: np.ndarray,
              graph: GridGraph | None = None) -> PathResult:
    """Shortest collision-free path between two floor points.

    Args:
        wm: walkable map (its ``radius`` is the agent radius kept from obstacles).
        start, goal: (2,) world xy, metres (z is ignored if given).
        graph: a :class:`GridGraph` of ``wm`` to reuse across queries; its ``comfort``
            (default 0: shortest paths) keeps paths away from obstacles.
    Returns:
        :class:`PathResult`; ``reachable`` False with a ``reason`` when either end is not
        walkable or the two lie in different walkable components.
    """
    start = np.asarray(start, float)[:2]
    goal = np.asarray(goal, float)[:2]
    g = graph or GridGraph(wm)
    for name, p in (("start", start), ("goal", goal)):
        if g.node(p) < 0:
            return PathResult(False, np.zeros((0, 2)), np.inf,
                              f"{name} ({p[0]:.2f}, {p[1]:.2f}) is not walkable (outside the floor, "
                              f"inside furniture or closer than {wm.radius:.2f} m to an obstacle)")
    cs, cg = wm.component_of(start), wm.component_of(goal)
    if cs != cg:
        return PathResult(False, np.zeros((0, 2)), np.inf,
                          f"unreachable: start is in walkable component {cs}, goal in {cg}")
    s, t = g.node(start), g.node(goal)
    _, pred = dijkstra(g.graph, indices=s, return_predecessors=True)
    nodes = [t]
    while nodes[-1] != s:
        nodes.append(pred[nodes[-1]])
    cells = g.cells[nodes[::-1]]
    pts = np.vstack([start, wm.cell_to_world(cells)[1:-1], goal])
    pts = smooth(wm, pts, g.comfort)
    length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
    return PathResult(True, pts, length)
