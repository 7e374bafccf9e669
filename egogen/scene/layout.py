"""Floor plan of the procedural apartment: rectangular rooms, door openings and the wall
pieces around them, all in 2D (metres, world xy, Z up).

Two plan types, chosen per seed: a *split plan* (the footprint is cut recursively into
rooms with the target areas, like a treemap) and a *corridor plan* (rooms on both sides of
a hallway). Doors follow a spanning tree of the room adjacency graph that prefers hub
rooms (hallway, living room), plus a few extra doors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 0.05  # room edges and doors snap to this grid (metres) so the 5 cm walkable map aligns


@dataclass
class RoomPlan:
    """A room on the plan: ``rect`` = (xmin, ymin, xmax, ymax) on wall centre lines, m."""

    name: str
    kind: str
    rect: tuple[float, float, float, float]


@dataclass
class Door:
    """An opening between rooms ``a`` and ``b`` (indices into the room list).

    ``centre`` (x, y) m on the wall centre line; ``axis`` is the direction the wall runs
    (``"x"``: a wall at constant y); ``width`` m.
    """

    a: int
    b: int
    centre: tuple[float, float]
    width: float
    axis: str


class LayoutError(RuntimeError):
    """No valid plan was found for this seed within ``layout.attempts`` tries."""


def _snap(v: float) -> float:
    return round(round(v / GRID) * GRID, 6)


def _programme(recipe: dict, rng: np.random.Generator, corridor: bool, n: int) -> list[str]:
    rooms = recipe["rooms"]
    kinds = list(rooms["mandatory"])
    extras = rooms["extras"]
    names, weights = list(extras), np.array([extras[k] for k in extras], float)
    n_other = n - (1 if corridor else 0)
    while len(kinds) < n_other:
        kinds.append(names[int(rng.choice(len(names), p=weights / weights.sum()))])
    return kinds[:n_other]


def _name_rooms(kinds: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for k in kinds:
        seen[k] = seen.get(k, 0) + 1
        out.append(k if seen[k] == 1 else f"{k}_{seen[k]}")
    return out


def _treemap(rect, items, rng) -> dict[int, tuple]:
    """Cut ``rect`` into one rectangle per (index, area) item, areas proportional."""
    if len(items) == 1:
        return {items[0][0]: rect}
    areas = np.array([a for _, a in items])
    cum = np.cumsum(areas)[:-1]
    k = int(np.argmin(np.abs(cum - areas.sum() / 2))) + 1
    frac = cum[k - 1] / areas.sum()
    x0, y0, x1, y1 = rect
    if (x1 - x0) >= (y1 - y0):
        xs = _snap(x0 + (x1 - x0) * frac)
        ra, rb = (x0, y0, xs, y1), (xs, y0, x1, y1)
    else:
        ys = _snap(y0 + (y1 - y0) * frac)
        ra, rb = (x0, y0, x1, ys), (x0, ys, x1, y1)
    if rng.random() < 0.5:  # mirror for variety
        ra, rb = rb, ra
        items = items[k:] + items[:k]
        k = len(items) - k
    out = _treemap(ra, items[:k], rng)
    out.update(_treemap(rb, items[k:], rng))
    return out


def _split_plan(recipe, rng, kinds, areas):
    lay = recipe["layout"]
    total = float(sum(areas))
    aspect = rng.uniform(*lay["footprint_aspect"])
    w = _snap(np.sqrt(total * aspect))
    d = _snap(total / w)
    order = list(rng.permutation(len(kinds)))
    items = [(int(i), areas[i]) for i in order]
    rects = _treemap((0.0, 0.0, w, d), items, rng)
    return [rects[i] for i in range(len(kinds))]


def _corridor_plan(recipe, rng, kinds, areas):
    lay = recipe["layout"]
    hw = _snap(rng.uniform(*lay["corridor_width"]))
    da, db = (_snap(rng.uniform(*lay["corridor_side_depth"])) for _ in range(2))
    order = sorted(range(len(kinds)), key=lambda i: -areas[i])
    side_a, side_b, sa, sb = [], [], 0.0, 0.0
    for i in order:  # greedy balance of the two sides' lengths
        if sa / da <= sb / db:
            side_a.append(i); sa += areas[i]
        else:
            side_b.append(i); sb += areas[i]
    length = _snap(max(sa / da, sb / db))
    rects: dict[int, tuple] = {}
    for side, s, y0, y1 in ((side_a, sa, 0.0, da), (side_b, sb, da + hw, da + hw + db)):
        side = [side[j] for j in rng.permutation(len(side))]
        x = 0.0
        for j, i in enumerate(side):
            x_next = length if j == len(side) - 1 else _snap(x + length * areas[i] / s)
            rects[i] = (x, y0, x_next, y1)
            x = x_next
    out = [rects[i] for i in range(len(kinds))]
    out.append((0.0, da, length, da + hw))
    return out


def _adjacency(rects, min_len):
    """Shared wall pieces: list of (i, j, axis, fixed coordinate, lo, hi)."""
    out = []
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            for ax, fa, fb, (lo, hi) in (
                ("y", a[2], b[0], (max(a[1], b[1]), min(a[3], b[3]))),
                ("y", a[0], b[2], (max(a[1], b[1]), min(a[3], b[3]))),
                ("x", a[3], b[1], (max(a[0], b[0]), min(a[2], b[2]))),
                ("x", a[1], b[3], (max(a[0], b[0]), min(a[2], b[2]))),
            ):
                if abs(fa - fb) < 1e-6 and hi - lo >= min_len:
                    out.append((i, j, ax, fa, lo, hi))
    return out


def _doors(recipe, rng, rooms: list[RoomPlan]) -> list[Door] | None:
    st, lay = recipe["structure"], recipe["layout"]
    dw, margin = st["door_width"], st["door_margin"]
    adj = _adjacency([r.rect for r in rooms], dw + 2 * margin)
    kinds = [r.kind for r in rooms]
    hubs, leaves = set(lay["hubs"]), set(lay["leaf_rooms"])
    wide = {frozenset(p) for p in lay["wide_openings"]}

    def cost(e):
        i, j = e[0], e[1]
        c = 0.0 if (kinds[i] in hubs or kinds[j] in hubs) else 1.0
        if kinds[i] in leaves and kinds[j] in leaves:
            c += 100.0
        return c + 0.1 * rng.random()

    costs = {id(e): cost(e) for e in adj}
    root = next((i for i, k in enumerate(kinds) if k == "hallway"), None)
    if root is None:
        root = kinds.index("living_room")
    tree, inside = [], {root}
    while len(inside) < len(rooms):
        cand = [e for e in adj if (e[0] in inside) != (e[1] in inside)
                and not (kinds[e[0] if e[0] in inside else e[1]] in leaves)]
        if not cand:
            return None
        e = min(cand, key=lambda e: costs[id(e)])
        tree.append(e)
        inside |= {e[0], e[1]}
    chosen = list(tree)
    for e in adj:
        if e in tree or kinds[e[0]] in leaves or kinds[e[1]] in leaves:
            continue
        if any({e[0], e[1]} == {t[0], t[1]} for t in chosen):
            continue
        if rng.random() < lay["extra_door_probability"]:
            chosen.append(e)
    doors = []
    for i, j, ax, c, lo, hi in chosen:
        w = dw
        if frozenset((kinds[i], kinds[j])) in wide and hi - lo >= st["wide_opening_width"] + 2 * margin:
            w = st["wide_opening_width"]
        pos = _snap(rng.uniform(lo + margin + w / 2, hi - margin - w / 2))
        centre = (pos, c) if ax == "x" else (c, pos)
        doors.append(Door(i, j, centre, w, ax))
    return doors


def _valid(recipe, rooms: list[RoomPlan]) -> bool:
    types, max_aspect = recipe["rooms"]["types"], recipe["layout"]["max_room_aspect"]
    for r in rooms:
        x0, y0, x1, y1 = r.rect
        short, long_ = sorted((x1 - x0, y1 - y0))
        if short < types[r.kind]["min_side"] - 1e-6:
            return False
        if r.kind != "hallway" and long_ / short > max_aspect:
            return False
    return True


def plan_layout(recipe: dict, rng: np.random.Generator) -> tuple[list[RoomPlan], list[Door]]:
    """Draw a floor plan.

    Args:
        recipe: from :func:`egogen.scene.recipe.load_recipe`.
        rng: the generator's random stream (consumed deterministically).
    Returns:
        rooms (wall-centre-line rectangles snapped to 5 cm, tiling a rectangle whose
        corner is the origin) and doors (every room reachable from every other).
    Raises:
        LayoutError: if no plan satisfies the recipe within ``layout.attempts`` tries.
    """
    lay, types = recipe["layout"], recipe["rooms"]["types"]
    n_min_corr = len(recipe["rooms"]["mandatory"]) + 1
    for _ in range(int(lay["attempts"])):
        n = int(rng.integers(lay["n_rooms"][0], lay["n_rooms"][1] + 1))
        corridor = bool(rng.random() < lay["corridor_probability"]) and n >= n_min_corr
        kinds = _programme(recipe, rng, corridor, n)
        areas = [float(rng.uniform(*types[k]["area"])) for k in kinds]
        rects = (_corridor_plan if corridor else _split_plan)(recipe, rng, kinds, areas)
        if corridor:
            kinds = kinds + ["hallway"]
        names = _name_rooms(kinds)
        rooms = [RoomPlan(nm, k, tuple(float(v) for v in r)) for nm, k, r in zip(names, kinds, rects)]
        if not _valid(recipe, rooms):
            continue
        doors = _doors(recipe, rng, rooms)
        if doors is None:
            continue
        return rooms, doors
    raise LayoutError(f"no valid floor plan in {lay['attempts']} attempts; loosen the recipe's "
                      "room sizes (rooms.types.*.area / min_side) or layout.max_room_aspect")


def wall_pieces(rooms: list[RoomPlan], doors: list[Door], thickness: float) -> list[tuple]:
    """Decompose all walls into disjoint axis-aligned rectangles.

    Returns:
        list of (xmin, ymin, xmax, ymax, kind) with kind ``"wall"`` (full height) or
        ``"lintel"`` (above a door opening). Pieces never overlap, so their extruded
        boxes give a well-defined inside for signed distances.
    """
    h = thickness / 2
    strips, openings = [], []
    for r in rooms:
        x0, y0, x1, y1 = r.rect
        strips += [(x0 - h, y0 - h, x1 + h, y0 + h), (x0 - h, y1 - h, x1 + h, y1 + h),
                   (x0 - h, y0 - h, x0 + h, y1 + h), (x1 - h, y0 - h, x1 + h, y1 + h)]
    for d in doors:
        cx, cy = d.centre
        if d.axis == "x":
            openings.append((cx - d.width / 2, cy - h, cx + d.width / 2, cy + h))
        else:
            openings.append((cx - h, cy - d.width / 2, cx + h, cy + d.width / 2))
    xs = sorted({round(v, 6) for s in strips + openings for v in (s[0], s[2])})
    ys = sorted({round(v, 6) for s in strips + openings for v in (s[1], s[3])})
    xc = (np.array(xs[:-1]) + np.array(xs[1:])) / 2
    yc = (np.array(ys[:-1]) + np.array(ys[1:])) / 2
    X, Y = np.meshgrid(xc, yc)  # (ny, nx)

    def cover(rs):
        m = np.zeros(X.shape, bool)
        for x0, y0, x1, y1 in rs:
            m |= (X > x0) & (X < x1) & (Y > y0) & (Y < y1)
        return m

    wall = cover(strips)
    opening = cover(openings) & wall
    kind = np.where(opening, 2, np.where(wall, 1, 0))
    pieces: list[tuple] = []
    open_runs: dict[tuple, list] = {}  # (i0, i1, k) -> [j0, j1] rectangle growing in y
    for j in range(kind.shape[0]):
        runs, i = [], 0
        while i < kind.shape[1]:
            k = kind[j, i]
            i1 = i
            while i1 + 1 < kind.shape[1] and kind[j, i1 + 1] == k:
                i1 += 1
            if k:
                runs.append((i, i1, int(k)))
            i = i1 + 1
        new: dict[tuple, list] = {}
        for run in runs:
            if run in open_runs:
                new[run] = [open_runs.pop(run)[0], j]
            else:
                new[run] = [j, j]
        for (i0, i1, k), (j0, j1) in open_runs.items():
            pieces.append((xs[i0], ys[j0], xs[i1 + 1], ys[j1 + 1], "wall" if k == 1 else "lintel"))
        open_runs = new
    for (i0, i1, k), (j0, j1) in open_runs.items():
        pieces.append((xs[i0], ys[j0], xs[i1 + 1], ys[j1 + 1], "wall" if k == 1 else "lintel"))
    return sorted(pieces)
