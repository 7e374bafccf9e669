"""The procedural ``apartment``: a furnished multi-room apartment, deterministic per seed.

Pipeline: recipe (scenes/apartment.yaml) -> floor plan (:mod:`egogen.scene.layout`) ->
floors, walls with door openings, ceilings -> furniture (:mod:`egogen.scene.furnish`,
optionally real assets) -> a walkability check (every room reachable for an agent of
``placement.check_radius`` and no part of a room walled off by furniture; otherwise the furniture is re-drawn from the next sub-seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egogen.scene import furniture
from egogen.scene.assets import AssetLibrary
from egogen.scene.builder import SceneBuilder
from egogen.scene.collision import CollisionWorld
from egogen.scene.furnish import RoomFurnisher, door_zones
from egogen.scene.layout import plan_layout, wall_pieces
from egogen.scene.model import Material, Room, Scene
from egogen.scene.recipe import load_recipe
from egogen.scene.walkable import build_walkable_map

MAX_FURNISH_ATTEMPTS = 20
#: Furniture stands this far (m) above the floor so that no face of it coincides with the
#: floor's top face (coincident faces make "which surface is hit first" undefined).
LIFT = 0.001


def _material(spec: dict, rng: np.random.Generator, texture: str | None = None) -> Material:
    colours = spec["colours"]
    c = colours[int(rng.integers(len(colours)))]
    patterns = spec["patterns"]
    p = patterns[int(rng.integers(len(patterns)))]
    return Material(tuple(float(v) for v in c), "texture" if texture else p, texture)


def _slab(x0, y0, x1, y1, z0, z1):
    return furniture._box(x0, y0, z0, x1, y1, z1)


def generate_apartment(seed: int = 0, recipe: dict | str | Path | None = None,
                       assets: str | Path | None = None) -> Scene:
    """Generate the procedural apartment for ``seed``.

    Args:
        seed: any int >= 0; the same seed (and recipe and assets) gives the same scene,
            byte for byte.
        recipe: a loaded recipe, a YAML path, or None for ``scenes/apartment.yaml``.
        assets: optional folder of glTF/GLB/OBJ/PLY furniture matched to catalogue items
            by file name (e.g. the CC0 set); Y-up glTF is turned Z-up.
    Returns:
        A :class:`~egogen.scene.model.Scene` (metres, Z up, floor at z = 0, the plan's
        corner at the origin) with rooms, doors, and objects labelled ``floor``,
        ``ceiling``, ``wall`` and furniture items (``sofa``, ``bed`` ...), each with an
        instance id and a material.
    Raises:
        ValueError: negative seed.
        egogen.scene.layout.LayoutError: the recipe admits no plan for this seed.
        RuntimeError: no furnishing left every room reachable within 20 attempts.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seed = int(seed)
    rec = recipe if isinstance(recipe, dict) else load_recipe(recipe)
    lib = AssetLibrary(assets, rec["furniture"]) if assets is not None else None
    rng = np.random.default_rng([seed, 0])
    plan_rooms, doors = plan_layout(rec, rng)
    st = rec["structure"]
    t, H = st["wall_thickness"], st["wall_height"]
    wall_mat = _material(st["wall_material"], rng)
    floor_mats = [_material(rec["rooms"]["types"][r.kind]["floor"], rng) for r in plan_rooms]
    pieces = wall_pieces(plan_rooms, doors, t)
    zones = door_zones(doors, st["door_clearance"])

    for attempt in range(MAX_FURNISH_ATTEMPTS):
        frng = np.random.default_rng([seed, 1, attempt])
        b = SceneBuilder()
        # floors and ceilings cover room interiors (between wall faces) and door thresholds,
        # so no two solids overlap or share a face
        h = t / 2
        for r, mat in zip(plan_rooms, floor_mats):
            x0, y0, x1, y1 = r.rect
            b.add(_slab(x0 + h, y0 + h, x1 - h, y1 - h, -st["floor_thickness"], 0.0), "floor", mat, r.name)
        for d in doors:
            (cx, cy), hw = d.centre, d.width / 2
            x0, y0, x1, y1 = (cx - hw, cy - h, cx + hw, cy + h) if d.axis == "x" else (cx - h, cy - hw, cx + h, cy + hw)
            b.add(_slab(x0, y0, x1, y1, -st["floor_thickness"], 0.0), "floor", floor_mats[d.a], plan_rooms[d.a].name)
        if st["ceiling"]:
            cm = _material(st["ceiling_material"], rng=np.random.default_rng([seed, 2]))
            for r in plan_rooms:
                x0, y0, x1, y1 = r.rect
                b.add(_slab(x0 + h, y0 + h, x1 - h, y1 - h, H, H + st["ceiling_thickness"]), "ceiling", cm, r.name)
        for x0, y0, x1, y1, kind in pieces:
            z0 = st["door_height"] if kind == "lintel" else 0.0
            b.add(_slab(x0, y0, x1, y1, z0, H), "wall", wall_mat)
        n_structure = len(b.objects)
        for r in plan_rooms:
            f = RoomFurnisher(rec, r, zones, frng)
            for p in f.furnish(rec["furnishing"].get(r.kind, []), lib):
                spec = rec["furniture"][p.item]
                if p.asset is not None:
                    local, _, path = p.asset
                    mat = _material(spec["material"], frng, texture=str(path))
                else:
                    local = furniture.build(spec["shape"], p.size)
                    mat = _material(spec["material"], frng)
                mesh = furniture.place(local, p.yaw, p.centre)
                mesh.apply_translation((0.0, 0.0, LIFT))
                b.add(mesh, p.item, mat, r.name, p.yaw)
        rooms = []
        for i, r in enumerate(plan_rooms):
            ds = tuple(((float(d.centre[0]), float(d.centre[1])), float(d.width), d.axis,
                        plan_rooms[d.b if d.a == i else d.a].name)
                       for d in doors if i in (d.a, d.b))
            rooms.append(Room(r.name, r.kind, r.rect, ds))
        scene = b.scene(rooms=rooms, name=f"apartment-{seed}", source="apartment", seed=seed,
                        meta={"recipe_sha256": rec["_sha256"], "furnish_attempt": attempt,
                              "assets": str(assets) if assets else None,
                              "n_structure_objects": n_structure, "up": "z", "floor_z": 0.0})
        if _all_rooms_reachable(scene, rec["placement"]["check_radius"],
                                rec["placement"].get("min_main_component_fraction", 0.0)):
            return scene
    raise RuntimeError(f"apartment seed {seed}: no furnishing kept every room reachable in "
                       f"{MAX_FURNISH_ATTEMPTS} attempts; lower the recipe's furniture density")


def _all_rooms_reachable(scene: Scene, radius: float, min_fraction: float) -> bool:
    wm = build_walkable_map(CollisionWorld(scene), radius=radius)
    if not wm.n_components or wm.component_areas()[0] < min_fraction * wm.walkable_area:
        return False
    for r in scene.rooms:
        x0, y0, x1, y1 = r.rect
        lo = wm.world_to_cell(np.array([x0, y0]))
        hi = wm.world_to_cell(np.array([x1, y1]))
        comp = wm.components[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1]
        if not (comp == 1).any():
            return False
    return True
