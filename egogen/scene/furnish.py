"""Place the recipe's furniture in the rooms of a floor plan (2D, axis-aligned footprints).

Rules (all numbers come from the recipe): items stand inside the room's interior (wall
faces minus ``structure.wall_gap``); footprints keep ``placement.item_gap`` between them; an
item's front clearance (``furniture.<item>.clearance``) stays free of other footprints; no
footprint enters a door's keep-out zone (``structure.door_clearance`` deep on both sides).
Yaw is a multiple of 90 degrees; an item's front faces local -y, i.e. world
(sin yaw, -cos yaw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egogen.scene.layout import Door, RoomPlan

# Wall side -> yaw that puts the item's back (+y local) against that wall.
SIDE_YAW = {"N": 0.0, "S": np.pi, "E": -np.pi / 2, "W": np.pi / 2}
OPPOSITE = {"N": "S", "S": "N", "E": "W", "W": "E"}


@dataclass
class Placement:
    """A placed item: ``rect`` footprint (xmin, ymin, xmax, ymax) m, ``size`` (w, d, h) m."""

    item: str
    room: str
    centre: tuple[float, float]
    yaw: float
    size: tuple[float, float, float]
    rect: tuple[float, float, float, float]
    keepout: tuple | None
    side: str | None
    parent: int | None = None
    asset: object = None  # (mesh, size, path) when a real asset stands in for the item


def _rect(cx, cy, w, d, yaw):
    rotated = abs(np.sin(yaw)) > 0.5
    ex, ey = (d, w) if rotated else (w, d)
    return (cx - ex / 2, cy - ey / 2, cx + ex / 2, cy + ey / 2)


def _front(yaw):
    return np.array([np.sin(yaw), -np.cos(yaw)])


def _keepout(rect, yaw, depth):
    if depth <= 0:
        return None
    x0, y0, x1, y1 = rect
    f = _front(yaw)
    if abs(f[0]) > 0.5:
        return (x1, y0, x1 + depth, y1) if f[0] > 0 else (x0 - depth, y0, x0, y1)
    return (x0, y1, x1, y1 + depth) if f[1] > 0 else (x0, y0 - depth, x1, y0)


def _overlap(a, b, gap=0.0):
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _inside(a, box):
    return a[0] >= box[0] - 1e-9 and a[1] >= box[1] - 1e-9 and a[2] <= box[2] + 1e-9 and a[3] <= box[3] + 1e-9


def door_zones(doors: list[Door], depth: float) -> list[tuple]:
    """Keep-out rectangles in front of every door, on both sides, (xmin, ymin, xmax, ymax)."""
    zones = []
    for d in doors:
        cx, cy = d.centre
        hw = d.width / 2 + 0.1
        if d.axis == "x":
            zones.append((cx - hw, cy - depth, cx + hw, cy + depth))
        else:
            zones.append((cx - depth, cy - hw, cx + depth, cy + hw))
    return zones


class RoomFurnisher:
    """Places the items of one room, one after another (see module docstring)."""

    def __init__(self, recipe: dict, room: RoomPlan, zones: list[tuple], rng: np.random.Generator):
        st = recipe["structure"]
        inset = st["wall_thickness"] / 2 + st["wall_gap"]
        x0, y0, x1, y1 = room.rect
        self.interior = (x0 + inset, y0 + inset, x1 - inset, y1 - inset)
        self.room, self.zones, self.rng = room, zones, rng
        self.cat = recipe["furniture"]
        self.gap = recipe["placement"]["item_gap"]
        self.tries = int(recipe["placement"]["tries_per_item"])
        self.placed: list[Placement] = []

    # ------------------------------------------------------------------ checks
    def _ok(self, p: Placement, parent: int | None) -> bool:
        if not _inside(p.rect, self.interior):
            return False
        if any(_overlap(p.rect, z) for z in self.zones):
            return False
        for k, q in enumerate(self.placed):
            if _overlap(p.rect, q.rect, self.gap):
                return False
            if k != parent and q.keepout is not None and _overlap(p.rect, q.keepout):
                return False
            if k != parent and p.keepout is not None and _overlap(p.keepout, q.rect):
                return False
        if p.keepout is not None and not _overlap(p.keepout, self.interior):
            return False
        return True

    def _size(self, item):
        rng = np.array(self.cat[item]["size"], float)
        return tuple(float(v) for v in self.rng.uniform(rng[:, 0], rng[:, 1]))

    def _make(self, item, cx, cy, yaw, size, side, parent=None, keep=None):
        rect = _rect(cx, cy, size[0], size[1], yaw)
        depth = self.cat[item]["clearance"] if keep is None else keep
        return Placement(item, self.room.name, (float(cx), float(cy)), float(yaw), size, rect,
                         _keepout(rect, yaw, depth), side, parent)

    # ------------------------------------------------------------------ strategies
    def _wall_pos(self, side, size, along=None):
        x0, y0, x1, y1 = self.interior
        w, d = size[0], size[1]
        if side in ("N", "S"):
            lo, hi = x0 + w / 2, x1 - w / 2
            if hi < lo:
                return None
            t = self.rng.uniform(lo, hi) if along is None else float(np.clip(along, lo, hi))
            return t, (y1 - d / 2 if side == "N" else y0 + d / 2)
        lo, hi = y0 + w / 2, y1 - w / 2
        if hi < lo:
            return None
        t = self.rng.uniform(lo, hi) if along is None else float(np.clip(along, lo, hi))
        return (x1 - d / 2 if side == "E" else x0 + d / 2), t

    def _sides(self, long_wall=False):
        x0, y0, x1, y1 = self.interior
        sides = ["N", "S", "E", "W"]
        if long_wall:
            sides = ["N", "S"] if (x1 - x0) >= (y1 - y0) else ["E", "W"]
        return sides

    def wall(self, item, size, long_wall=False, side=None, along=None, corner=False):
        for _ in range(self.tries):
            s = side or self._sides(long_wall)[int(self.rng.integers(len(self._sides(long_wall))))]
            if corner:
                x0, y0, x1, y1 = self.interior
                lo_end = self.rng.random() < 0.5
                if s in ("N", "S"):
                    along = x0 + size[0] / 2 if lo_end else x1 - size[0] / 2
                else:
                    along = y0 + size[0] / 2 if lo_end else y1 - size[0] / 2
            pos = self._wall_pos(s, size, along)
            if pos is None:
                continue
            p = self._make(item, pos[0], pos[1], SIDE_YAW[s], size, s)
            if self._ok(p, None):
                return p
        return None

    def free(self, item, size, margin=0.75):
        x0, y0, x1, y1 = self.interior
        for _ in range(self.tries):
            yaw = float(self.rng.choice([0.0, np.pi / 2]))
            r = _rect(0, 0, size[0], size[1], yaw)
            ex, ey = r[2] - r[0], r[3] - r[1]
            lo_x, hi_x = x0 + ex / 2 + margin, x1 - ex / 2 - margin
            lo_y, hi_y = y0 + ey / 2 + margin, y1 - ey / 2 - margin
            if hi_x < lo_x or hi_y < lo_y:
                return None
            cx, cy = self.rng.uniform(lo_x, hi_x), self.rng.uniform(lo_y, hi_y)
            p = self._make(item, cx, cy, yaw, size, None, keep=0)
            p.keepout = (p.rect[0] - margin, p.rect[1] - margin, p.rect[2] + margin, p.rect[3] + margin)
            if self._ok(p, None):
                return p
        return None

    def front_of(self, item, size, parent: int, gap: float):
        q = self.placed[parent]
        f = _front(q.yaw)
        dist = q.size[1] / 2 + gap + size[1] / 2
        c = np.array(q.centre) + f * dist
        p = self._make(item, c[0], c[1], q.yaw + np.pi, size, None, parent=parent, keep=0)
        return p if self._ok(p, parent) else None

    def facing(self, item, size, parent: int):
        q = self.placed[parent]
        if q.side is None:
            return self.wall(item, size)
        s = OPPOSITE[q.side]
        along = q.centre[0] if s in ("N", "S") else q.centre[1]
        return self.wall(item, size, side=s, along=along) or self.wall(item, size)

    def beside(self, item, size, parent: int):
        q = self.placed[parent]
        if q.side is None:
            return None
        for sign in self.rng.permutation([-1.0, 1.0]):
            off = q.size[0] / 2 + self.gap + 0.02 + size[0] / 2
            along = (q.centre[0] if q.side in ("N", "S") else q.centre[1]) + sign * off
            pos = self._wall_pos(q.side, size, along)
            if pos is None:
                continue
            p = self._make(item, pos[0], pos[1], SIDE_YAW[q.side], size, q.side, parent=parent)
            if abs((p.centre[0] if q.side in ("N", "S") else p.centre[1]) - along) > 1e-6:
                continue
            if self._ok(p, parent):
                return p
        return None

    def around(self, item, size, parent: int, count: int):
        q = self.placed[parent]
        x0, y0, x1, y1 = q.rect
        long_x = (x1 - x0) >= (y1 - y0)
        out = []
        d = size[1] / 2 + self.gap + 0.02
        spots = []
        # yaw such that the chair's front (sin yaw, -cos yaw) points at the table
        south, north, west, east = np.pi, 0.0, np.pi / 2, -np.pi / 2
        if long_x:
            for fx in (0.27, 0.73):
                spots += [((x0 + (x1 - x0) * fx, y0 - d), south), ((x0 + (x1 - x0) * fx, y1 + d), north)]
            spots += [((x0 - d, (y0 + y1) / 2), west), ((x1 + d, (y0 + y1) / 2), east)]
        else:
            for fy in (0.27, 0.73):
                spots += [((x0 - d, y0 + (y1 - y0) * fy), west), ((x1 + d, y0 + (y1 - y0) * fy), east)]
            spots += [(((x0 + x1) / 2, y0 - d), south), (((x0 + x1) / 2, y1 + d), north)]
        for (cx, cy), yaw in spots:
            if len(out) >= count:
                break
            p = self._make(item, cx, cy, yaw, size, None, parent=parent, keep=0)
            if self._ok(p, parent):
                self.placed.append(p)
                out.append(p)
        return out

    # ------------------------------------------------------------------ driver
    def furnish(self, entries: list[dict], assets=None) -> list[Placement]:
        """Place every entry of the room's furnishing list.

        Args:
            entries: the recipe's ``furnishing.<room kind>`` list.
            assets: optional :class:`egogen.scene.assets.AssetLibrary`; when it has an
                asset for an item, the item takes the asset's (scaled) size.
        Returns:
            The placements (also kept in ``self.placed``); ``Placement.asset`` holds
            (mesh, path) when an asset was used.
        """
        area = (self.room.rect[2] - self.room.rect[0]) * (self.room.rect[3] - self.room.rect[1])
        for e in entries:
            if area < e.get("min_room_area", 0.0):
                continue
            lo, hi = e.get("count", [1, 1])
            n = int(self.rng.integers(lo, hi + 1))
            if self.rng.random() >= e.get("p", 1.0):
                continue
            item, how = e["item"], e["place"]
            parents = [k for k, q in enumerate(self.placed) if q.item == e.get("of")]
            if how in ("front_of", "around", "beside", "facing") and not parents:
                continue
            for _ in range(n if how != "around" else 1):
                size = self._size(item)
                asset = None
                if assets is not None:
                    asset = assets.pick(item, self.cat[item], np.array(size), self.rng)
                    if asset is not None:
                        size = tuple(float(v) for v in asset[1])
                if how == "wall":
                    p = self.wall(item, size, long_wall=e.get("long_wall", False))
                elif how == "corner":
                    p = self.wall(item, size, corner=True)
                elif how == "free":
                    p = self.free(item, size)
                elif how == "front_of":
                    p = self.front_of(item, size, parents[-1], e.get("gap", 0.3))
                elif how == "facing":
                    p = self.facing(item, size, parents[-1])
                elif how == "beside":
                    p = self.beside(item, size, parents[-1])
                else:
                    for q in self.around(item, size, parents[-1], n):
                        q.asset = asset
                    continue
                if p is not None:
                    p.asset = asset
                    self.placed.append(p)
        return self.placed
