"""Procedural furniture geometry: simple, recognisable shapes made of disjoint closed parts.

Every builder takes the item size (width x depth x height, metres) and returns a
``trimesh.Trimesh`` in the item's local frame: centred on x = y = 0, standing on z = 0,
width along x, back at +y, front facing -y. Parts touch but never overlap, so signed
distances (inside = negative) stay well defined.
"""

from __future__ import annotations

import trimesh


def _box(x0, y0, z0, x1, y1, z1) -> trimesh.Trimesh:
    ext = (x1 - x0, y1 - y0, z1 - z0)
    c = ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2)
    return trimesh.creation.box(extents=ext, transform=trimesh.transformations.translation_matrix(c))


def box(w, d, h):
    """A solid block (cabinet, counter, fridge ...)."""
    return [_box(-w / 2, -d / 2, 0, w / 2, d / 2, h)]


def table(w, d, h, top=0.04, leg=0.05, inset=0.04):
    """Table top on four legs."""
    parts = [_box(-w / 2, -d / 2, h - top, w / 2, d / 2, h)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = sx * (w / 2 - inset - leg / 2), sy * (d / 2 - inset - leg / 2)
            parts.append(_box(cx - leg / 2, cy - leg / 2, 0, cx + leg / 2, cy + leg / 2, h - top))
    return parts


def chair(w, d, h, seat=0.45, leg=0.04):
    """Seat on four legs with a back rest at +y."""
    parts = table(w, d, seat, top=0.04, leg=leg, inset=0.01)
    parts.append(_box(-w / 2, d / 2 - 0.05, seat, w / 2, d / 2, h))
    return parts


def sofa(w, d, h, seat=0.42, arm_w=0.18, arm_h=0.62, back=0.22):
    """Seat block, two arm rests and a back rest (also used for armchairs)."""
    arm_w = min(arm_w, w * 0.2)
    yb = d / 2 - back
    return [
        _box(-w / 2 + arm_w, -d / 2, 0, w / 2 - arm_w, yb, seat),
        _box(-w / 2, -d / 2, 0, -w / 2 + arm_w, yb, arm_h),
        _box(w / 2 - arm_w, -d / 2, 0, w / 2, yb, arm_h),
        _box(-w / 2, yb, 0, w / 2, d / 2, h),
    ]


def bed(w, d, h, mattress=0.55, head=0.06, pillow=0.12):
    """Mattress block, head board at +y and a pillow."""
    yb = d / 2 - head
    return [
        _box(-w / 2, -d / 2, 0, w / 2, yb, mattress),
        _box(-w / 2, yb, 0, w / 2, d / 2, h),
        _box(-w / 2 + 0.1, yb - 0.45, mattress, w / 2 - 0.1, yb - 0.05, mattress + pillow),
    ]


def shelf(w, d, h, board=0.025, n_boards=5):
    """Open book shelf: two sides, a back panel and ``n_boards`` boards (top included)."""
    parts = [_box(-w / 2, -d / 2, 0, -w / 2 + board, d / 2, h),
             _box(w / 2 - board, -d / 2, 0, w / 2, d / 2, h),
             _box(-w / 2 + board, d / 2 - 0.01, 0, w / 2 - board, d / 2, h)]
    for k in range(n_boards):
        z = (h - board) * k / (n_boards - 1)
        parts.append(_box(-w / 2 + board, -d / 2, z, w / 2 - board, d / 2 - 0.01, z + board))
    return parts


def plant(w, d, h, pot_frac=0.3):
    """Cylindrical pot with an ellipsoid of foliage on top."""
    pot_h = h * pot_frac
    r = min(w, d) * 0.32
    pot = trimesh.creation.cylinder(radius=r, height=pot_h, sections=20)
    pot.apply_translation((0, 0, pot_h / 2))
    leaves = trimesh.creation.icosphere(subdivisions=2)
    leaves.apply_scale((w / 2, d / 2, (h - pot_h) / 2))
    leaves.apply_translation((0, 0, pot_h + (h - pot_h) / 2))
    return [pot, leaves]


def toilet(w, d, h, bowl=0.42, tank=0.18):
    """Bowl block in front of a tank at +y."""
    return [_box(-w / 2, -d / 2, 0, w / 2, d / 2 - tank, bowl),
            _box(-w / 2, d / 2 - tank, 0, w / 2, d / 2, h)]


SHAPES = {"box": box, "table": table, "chair": chair, "sofa": sofa, "bed": bed,
          "shelf": shelf, "plant": plant, "toilet": toilet}


def build(shape: str, size: tuple[float, float, float]) -> trimesh.Trimesh:
    """Mesh of a procedural item in its local frame.

    Args:
        shape: key of ``SHAPES`` (the recipe's ``furniture.<item>.shape``).
        size: (width, depth, height) metres.
    Raises:
        KeyError: unknown shape (the message lists the known ones).
    """
    if shape not in SHAPES:
        raise KeyError(f"unknown furniture shape {shape!r}; known: {sorted(SHAPES)}")
    return trimesh.util.concatenate(SHAPES[shape](*size))


def place(mesh: trimesh.Trimesh, yaw: float, centre_xy: tuple[float, float]) -> trimesh.Trimesh:
    """Rotate a local-frame mesh by ``yaw`` (radians, about +Z) and move it to ``centre_xy``."""
    T = trimesh.transformations.rotation_matrix(yaw, (0, 0, 1))
    T[:2, 3] = centre_xy
    out = mesh.copy()
    out.apply_transform(T)
    return out
