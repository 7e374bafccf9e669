"""Ego-sensing cost on the apartment: open3d batched 3D ray casting vs EgoGen's 2D method.

- egogen: every agent casts a 32 x 24 grid of rays (90 x 60 deg field of view) from eye
  height (1.6 m) into the 3D scene; all agents in ONE open3d ``cast_rays`` call.
- EgoGen: a 32-ray horizontal fan per agent intersected with the 2D walkable polygon
  (shapely), one agent at a time (as in EgoGen's ``get_map_obs``-style sensing).

Run:  python benchmarks/bench_sensing.py [--agents 1024] [--seed 0]
Needs the ``bench`` extra (shapely). Prints rays/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def walkable_polygon(wm):
    """Union of the free-floor cells as a shapely (Multi)Polygon (row runs merged)."""
    from shapely import box, unary_union

    boxes = []
    for r in range(wm.shape[0]):
        row = np.concatenate([[0], wm.free[r].astype(np.int8), [0]])
        d = np.diff(row)
        for c0, c1 in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
            x0, y0 = wm.origin + np.array([c0, r]) * wm.cell
            boxes.append(box(x0, y0, x0 + (c1 - c0) * wm.cell, y0 + wm.cell))
    return unary_union(boxes)


def rays_grid(n_agents, xy, yaw, w=32, h=24, hfov=np.pi / 2, vfov=np.pi / 3, eye=1.6):
    """(A*h*w, 3) origins and unit directions of a pinhole-like ray grid per agent."""
    az = np.linspace(-hfov / 2, hfov / 2, w)
    el = np.linspace(-vfov / 2, vfov / 2, h)
    E, Z = np.meshgrid(el, az, indexing="ij")  # (h, w)
    a = yaw[:, None, None] + Z[None]
    d = np.stack([np.cos(E)[None] * np.cos(a), np.cos(E)[None] * np.sin(a),
                  np.broadcast_to(np.sin(E)[None], a.shape)], -1).reshape(-1, 3)
    o = np.repeat(np.column_stack([xy, np.full(n_agents, eye)]), h * w, axis=0)
    return o, d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1024)
    ap.add_argument("--shapely-agents", type=int, default=128, help="agents timed for the 2D method")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from egogen.scene import load_apartment

    ps = load_apartment(args.seed, use_cache=False)
    wm, world = ps.walkable, ps.collision
    rng = np.random.default_rng(0)
    cells = np.argwhere(wm.walkable)
    pick = cells[rng.integers(len(cells), size=args.agents)]
    xy = wm.cell_to_world(pick)
    yaw = rng.uniform(-np.pi, np.pi, args.agents)
    o, d = rays_grid(args.agents, xy, yaw)
    world.cast_rays(o[:1000], d[:1000])  # warm-up
    best = np.inf
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        hits = world.cast_rays(o, d)
        best = min(best, time.perf_counter() - t0)
    o3d_rate = len(o) / best
    print(f"scene {ps.scene.name}: {len(ps.scene.faces)} triangles, {wm.walkable_area:.1f} m2 walkable")
    print(f"open3d batched 3D: {args.agents} agents x 32x24 rays = {len(o)} rays in {best * 1e3:.1f} ms "
          f"-> {o3d_rate / 1e6:.2f} M rays/s (hit rate {np.isfinite(hits.t).mean():.2f})")

    try:
        import shapely
        from shapely import LineString
    except ImportError:
        print("shapely not installed: pip install 'egogen[bench]' for the EgoGen comparison")
        return
    # EgoGen's polygon comes from a navmesh: simplify the cell staircase to be fair to it
    poly = walkable_polygon(wm).simplify(wm.cell, preserve_topology=True)
    boundary = poly.boundary
    print(f"walkable polygon: {shapely.get_num_coordinates(poly)} vertices after simplification")
    shapely.prepare(boundary)
    n = min(args.shapely_agents, args.agents)
    fan = np.linspace(-np.pi, np.pi, 32, endpoint=False)
    max_range = 5.0
    t0 = time.perf_counter()
    dist = np.zeros((n, 32))
    for i in range(n):  # one agent at a time, as EgoGen does
        p = xy[i]
        for k, a in enumerate(yaw[i] + fan):
            line = LineString([p, p + max_range * np.array([np.cos(a), np.sin(a)])])
            inter = line.intersection(boundary)
            if inter.is_empty:
                dist[i, k] = max_range
            else:
                dist[i, k] = shapely.distance(shapely.points(p), inter)
    dt = time.perf_counter() - t0
    shp_rate = n * 32 / dt
    print(f"EgoGen 2D (shapely, per agent): {n} agents x 32 rays = {n * 32} rays in {dt * 1e3:.1f} ms "
          f"-> {shp_rate / 1e3:.1f} k rays/s")
    print(f"ratio open3d / shapely: {o3d_rate / shp_rate:.0f}x more rays per second "
          f"(and 3D depth with object ids instead of 2D free-space distances)")


if __name__ == "__main__":
    main()
