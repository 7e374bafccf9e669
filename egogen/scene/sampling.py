"""Start/goal sampling on a walkable map, and named-object goals ("sofa") resolved to
reachable standing points in front of the object.

Points are cell centres of walkable cells (world xy, metres), so each lies at least the
map's agent radius from obstacles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egogen.scene.model import STRUCTURE_LABELS, Scene, normalise_label
from egogen.scene.planning import GridGraph
from egogen.scene.walkable import WalkableMap


@dataclass
class StartGoal:
    """A sampled episode task: ``start``/``goal`` (2,) world xy (m), their straight-line
    ``distance`` and ``geodesic`` path length along the grid (m)."""

    start: np.ndarray
    goal: np.ndarray
    distance: float
    geodesic: float


@dataclass
class ObjectGoal:
    """A named object turned into a goal.

    Attributes:
        label: the object's label; instance_id: which instance.
        point: (2,) world xy standing point (walkable, reachable), metres.
        yaw: heading (radians, about +Z, 0 = +x) that faces the object from ``point``.
        distance: distance from ``point`` to the object's footprint, metres.
    """

    label: str
    instance_id: int
    point: np.ndarray
    yaw: float
    distance: float


class NoSolution(ValueError):
    """No start/goal or standing point satisfies the request (the message says why)."""


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_start_goal(wm: WalkableMap, seed, min_dist: float = 1.0, max_dist: float = np.inf,
                      component: int = 1, metric: str = "euclidean", tries: int = 20,
                      graph: GridGraph | None = None) -> StartGoal:
    """Draw a reachable start and goal.

    Args:
        wm: walkable map.
        seed: int seed or ``numpy.random.Generator`` (same seed -> same pair).
        min_dist, max_dist: allowed distance between start and goal, metres.
        component: walkable component to sample in (1 = largest); both ends lie in it, so
            they are connected.
        metric: ``"euclidean"`` (straight line) or ``"geodesic"`` (path length on the grid).
        tries: number of starts tried before giving up.
        graph: a :class:`GridGraph` of ``wm`` to reuse.
    Returns:
        :class:`StartGoal`.
    Raises:
        ValueError: bad ``metric`` or ``min_dist > max_dist``.
        NoSolution: the component does not exist or no pair lies within the distances.
    """
    if metric not in ("euclidean", "geodesic"):
        raise ValueError(f"metric must be 'euclidean' or 'geodesic', got {metric!r}")
    if min_dist > max_dist:
        raise ValueError(f"min_dist {min_dist} > max_dist {max_dist}")
    rng = _rng(seed)
    g = graph or GridGraph(wm)
    comp_of_node = wm.components[g.cells[:, 0], g.cells[:, 1]]
    nodes = np.nonzero(comp_of_node == component)[0]
    if len(nodes) == 0:
        raise NoSolution(f"walkable component {component} does not exist (the map has {wm.n_components})")
    xy = wm.cell_to_world(g.cells[nodes])
    for _ in range(tries):
        k = int(rng.integers(len(nodes)))
        start = xy[k]
        dist, _ = g.distances_from(start)
        geo = dist[nodes]
        d = geo if metric == "geodesic" else np.linalg.norm(xy - start, axis=1)
        ok = np.nonzero((d >= min_dist) & (d <= max_dist) & np.isfinite(geo))[0]
        if len(ok):
            j = ok[int(rng.integers(len(ok)))]
            return StartGoal(start.copy(), xy[j].copy(), float(np.linalg.norm(xy[j] - start)), float(geo[j]))
    raise NoSolution(f"no start/goal pair {min_dist}-{max_dist} m apart ({metric}) found in component "
                     f"{component} ({len(nodes) * wm.cell_area():.1f} m2) after {tries} starts")


def resolve_object_goal(scene: Scene, wm: WalkableMap, label: str, seed=0,
                        start: np.ndarray | None = None, max_reach: float = 0.6,
                        graph: GridGraph | None = None) -> ObjectGoal:
    """Turn a named object ("sofa", "kitchen counter") into a reachable standing point.

    Candidate points are walkable cells within ``max_reach`` of the object's footprint
    (beyond the agent radius); points in front of the object (its ``front`` direction)
    are preferred, then the nearest to the footprint. When several instances carry the
    label one is drawn by ``seed``.

    Args:
        scene: the scene with object semantics.
        wm: walkable map of that scene.
        label: object label (case, spaces, dashes ignored).
        seed: int or Generator choosing among instances.
        start: (2,) world xy the point must be reachable from; default: largest component.
        max_reach: farthest distance (m) from the footprint edge to the standing point.
        graph: a :class:`GridGraph` of ``wm`` to reuse.
    Returns:
        :class:`ObjectGoal`.
    Raises:
        NoSolution: unknown label (the message lists the labels present), or no instance
            has a reachable standing point.
    """
    cands = scene.objects_with_label(label)
    if not cands:
        known = sorted({o.label for o in scene.objects if o.label not in STRUCTURE_LABELS})
        raise NoSolution(f"no object labelled {normalise_label(label)!r} in {scene.name}; labels: {known}")
    rng = _rng(seed)
    order = rng.permutation(len(cands))
    comp = 1 if start is None else int(wm.component_of(np.asarray(start, float)[:2]))
    if comp == 0:
        raise NoSolution(f"start {tuple(np.round(start, 2))} is not walkable")
    ys, xs = np.nonzero(wm.components == comp)
    xy = wm.cell_to_world(np.column_stack([ys, xs]))
    for k in order:
        o = cands[k]
        (x0, y0, _), (x1, y1, _) = o.bounds
        dx = np.maximum(np.maximum(x0 - xy[:, 0], 0), xy[:, 0] - x1)
        dy = np.maximum(np.maximum(y0 - xy[:, 1], 0), xy[:, 1] - y1)
        d = np.hypot(dx, dy)
        near = d <= wm.radius + max_reach
        if not near.any():
            continue
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        score = d.copy()
        if o.front is not None:
            v = xy - centre
            in_front = (v @ o.front) > 0.5 * np.linalg.norm(v, axis=1)
            score = score + np.where(in_front, 0.0, 10.0)
        i = np.nonzero(near)[0][np.argmin(score[near])]
        p = xy[i]
        look = centre - p
        return ObjectGoal(o.label, o.instance_id, p.copy(), float(np.arctan2(look[1], look[0])), float(d[i]))
    raise NoSolution(f"no reachable standing point within {max_reach} m of any {normalise_label(label)!r} "
                     f"({len(cands)} instance(s)) in walkable component {comp}")
