"""A scene made ready for simulation: geometry + semantics, walkable map, planner, samplers
and collision queries, loaded from (or written to) the cache.

SCENE specs understood by :func:`load_scene` (and the ``egogen scene`` commands):

- ``apartment`` or ``apartment:SEED`` - the procedural apartment (seed 0 by default);
- a folder written by ``egogen scene prepare ... --out DIR`` (has ``prepared.json``);
- a mesh file (.gltf/.glb/.ply/.obj) - prepared on first use with default options and
  cached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from egogen.npz import save_npz
from egogen.scene import cache
from egogen.scene.collision import CollisionWorld
from egogen.scene.model import STRUCTURE_LABELS, Scene
from egogen.scene.planning import GridGraph, PathResult, plan_path
from egogen.scene.sampling import ObjectGoal, StartGoal, resolve_object_goal, sample_start_goal
from egogen.scene.sdf_grid import SDFGrid
from egogen.scene.walkable import DEFAULTS, WalkableMap, build_walkable_map

PATH_COMFORT_M = 0.5  # people keep about this far from furniture and walls when they can


class SceneSpecError(ValueError):
    """A SCENE argument is neither ``apartment[:SEED]``, a prepared folder nor a mesh file."""


@dataclass
class PreparedScene:
    """Everything the simulator needs about one scene.

    Attributes:
        scene: geometry and semantics (metres, Z up, floor at z = 0).
        walkable: walkable map for ``walkable.radius``.
        folder: the cache/prepared folder it was read from or written to (or None).
        manifest: contents of ``prepared.json`` (kind, source, hashes, options).
    """

    scene: Scene
    walkable: WalkableMap
    folder: Path | None = None
    manifest: dict = field(default_factory=dict)

    @cached_property
    def collision(self) -> CollisionWorld:
        """open3d collision world of the static scene (built on first use)."""
        return CollisionWorld(self.scene)

    @cached_property
    def sdf(self) -> SDFGrid:
        """5 cm signed-distance grid of the static scene from the floor to 2.2 m (built on first
        use, ~5 s for the apartment, and cached in the prepared folder)."""
        path = self.folder / "sdf_5cm_v2.npz" if self.folder else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                return SDFGrid(z["origin"], float(z["cell"]), z["values"])
        b = np.array(self.scene.bounds, float)
        b[0, 2], b[1, 2] = -0.1, 2.2
        grid = SDFGrid.build(self.collision, b, 0.05)
        if path is not None:
            try:
                save_npz(path, {"origin": grid.origin, "cell": np.asarray(grid.cell), "values": grid.values})
            except OSError:
                pass  # a read-only prepared folder: keep the grid in memory only
        return grid

    @cached_property
    def graph(self) -> GridGraph:
        """Grid graph of the walkable map (built on first use)."""
        return GridGraph(self.walkable)

    @cached_property
    def path_graph(self) -> GridGraph:
        """Grid graph whose edges cost more closer than ``PATH_COMFORT_M`` to obstacles."""
        return GridGraph(self.walkable, comfort=PATH_COMFORT_M)

    def plan_path(self, start: np.ndarray, goal: np.ndarray) -> PathResult:
        """Collision-free path that keeps to the middle of corridors and doorways (up to
        ``PATH_COMFORT_M`` from obstacles where there is room); see
        :func:`egogen.scene.planning.plan_path`."""
        return plan_path(self.walkable, start, goal, self.path_graph)

    def sample_start_goal(self, seed, **kw) -> StartGoal:
        """Reachable start/goal pair; see :func:`egogen.scene.sampling.sample_start_goal`."""
        return sample_start_goal(self.walkable, seed, graph=self.graph, **kw)

    def object_goal(self, label: str, seed=0, start=None, **kw) -> ObjectGoal:
        """Standing point in front of a named object; see
        :func:`egogen.scene.sampling.resolve_object_goal`."""
        return resolve_object_goal(self.scene, self.walkable, label, seed, start, graph=self.graph, **kw)

    def info(self) -> dict:
        """JSON-ready summary: rooms, objects by label, areas (m2), components, bounds."""
        wm, sc = self.walkable, self.scene
        furniture = {k: v for k, v in sc.labels().items() if k not in STRUCTURE_LABELS}
        return {
            "name": sc.name,
            "source": sc.source,
            "seed": sc.seed,
            "rooms": [{"name": r.name, "kind": r.kind, "area_m2": round(r.area, 2),
                       "rect": [round(v, 3) for v in r.rect], "doors": len(r.doors)} for r in sc.rooms],
            "objects_by_label": furniture,
            "n_objects": sum(furniture.values()),
            "floor_area_m2": round(wm.floor_area, 2),
            "walkable_area_m2": round(wm.walkable_area, 2),
            "walkable_fraction": round(wm.walkable_area / wm.floor_area, 3) if wm.floor_area else 0.0,
            "walkable_components": wm.n_components,
            "largest_component_m2": round(wm.component_areas()[0], 2) if wm.n_components else 0.0,
            "agent_radius_m": wm.radius,
            "cell_m": wm.cell,
            "bounds": np.round(sc.bounds, 3).tolist(),
            "n_triangles": int(len(sc.faces)),
            "meta": sc.meta,
            "folder": str(self.folder) if self.folder else None,
        }

    def save(self, folder: Path) -> Path:
        """Write scene, walkable map and manifest into ``folder`` (atomically)."""
        folder = Path(folder)
        with cache.atomic_dir(folder) as tmp:
            self.scene.save(tmp)
            self.walkable.save(cache.walkable_file(tmp, self.walkable.radius, self.walkable.cell))
            (tmp / "prepared.json").write_text(json.dumps(self.manifest, indent=1))
        self.folder = folder
        return folder


def _walkable_for(scene: Scene, folder: Path | None, radius: float, cell: float) -> WalkableMap:
    f = cache.walkable_file(folder, radius, cell) if folder else None
    if f is not None and f.exists():
        return WalkableMap.load(f)
    wm = build_walkable_map(CollisionWorld(scene), cell=cell, radius=radius)
    if f is not None:
        tmp = f.with_suffix(".tmp.npz")
        wm.save(tmp)
        tmp.replace(f)
    return wm


def _load_folder(folder: Path, radius: float, cell: float) -> PreparedScene:
    manifest = json.loads((folder / "prepared.json").read_text())
    return PreparedScene(Scene.load(folder), _walkable_for(Scene.load(folder), folder, radius, cell),
                         folder, manifest)


def _cached(name: str, ingredients: dict, build, radius: float, cell: float, use_cache: bool,
            out: Path | None = None) -> PreparedScene:
    key = cache.key_of(ingredients)
    folder = Path(out) if out is not None else cache.entry_dir(name, key)
    manifest = {"name": name, "key": key, "version": cache.PREPARE_VERSION, **ingredients}
    if use_cache and (folder / "prepared.json").exists():
        try:
            old = json.loads((folder / "prepared.json").read_text())
            if old.get("key") == key:
                return _load_folder(folder, radius, cell)
        except (OSError, ValueError, KeyError):
            pass  # unreadable entry: rebuild it
    scene = build()
    wm = build_walkable_map(CollisionWorld(scene), cell=cell, radius=radius)
    ps = PreparedScene(scene, wm, None, manifest)
    if use_cache or out is not None:
        ps.save(folder)
    return ps


def load_apartment(seed: int = 0, assets: str | Path | None = None, recipe: str | Path | None = None,
                   radius: float = DEFAULTS["radius"], cell: float = DEFAULTS["cell"],
                   use_cache: bool = True, out: Path | None = None) -> PreparedScene:
    """The procedural apartment for ``seed``, prepared (cached by recipe/seed/assets hash).

    Args:
        seed: apartment seed (>= 0).
        assets: optional folder of glTF furniture (e.g. ../shared/assets/cc0).
        recipe: optional recipe YAML (default ``scenes/apartment.yaml``).
        radius, cell: agent radius and grid cell of the walkable map, metres.
        use_cache: read/write the user cache (``egogen.scene.cache.cache_root()``).
        out: also (or instead) write the prepared scene to this folder.
    """
    from egogen.scene.apartment import generate_apartment
    from egogen.scene.assets import AssetLibrary
    from egogen.scene.recipe import load_recipe

    rec = load_recipe(recipe)
    ing = {"kind": "apartment", "seed": int(seed), "recipe_sha256": rec["_sha256"],
           "source": "apartment",
           "assets_sha256": AssetLibrary(assets, rec["furniture"]).digest() if assets else None}
    return _cached(f"apartment-{int(seed)}", ing, lambda: generate_apartment(seed, rec, assets),
                   radius, cell, use_cache, out)


def load_training_floor(seed: int | None = None, radius: float = DEFAULTS["radius"], cell: float = DEFAULTS["cell"],
                        use_cache: bool = True) -> PreparedScene:
    """The policy-curriculum floor: open (``seed=None``) or with 1-3 boxes drawn from ``seed``,
    prepared and cached (see :mod:`egogen.scene.training_floor`)."""
    from egogen.scene.training_floor import generate_training_floor

    ing = {"kind": "floor", "seed": seed, "source": "floor", "version": 1}
    name = "floor" if seed is None else f"floor-{int(seed)}"
    return _cached(name, ing, lambda: generate_training_floor(seed), radius, cell, use_cache, None)


def prepare_mesh(path: str | Path, up: str = "auto", scale: float = 1.0, floor: str = "auto",
                 radius: float = DEFAULTS["radius"], cell: float = DEFAULTS["cell"],
                 use_cache: bool = True, out: Path | None = None) -> PreparedScene:
    """Import a mesh file and prepare it (cached by file hash and options).

    Args:
        path: .gltf/.glb/.ply/.obj file.
        up, scale, floor: see :func:`egogen.scene.mesh_import.import_mesh`.
        radius, cell: walkable map parameters, metres.
        use_cache: read/write the user cache.
        out: also write the prepared scene to this folder.
    Raises:
        egogen.scene.mesh_import.SceneImportError: for unusable files (message says why).
    """
    from egogen.scene.mesh_import import _load, import_mesh

    path = Path(path)
    if not path.is_file():
        _load(path)  # raises the documented error
    ing = {"kind": "mesh", "source": str(path.resolve()), "source_sha256": cache.file_digest(path),
           "up": up, "scale": float(scale), "floor": floor}
    return _cached(path.stem, ing, lambda: import_mesh(path, up, scale, floor), radius, cell, use_cache, out)


def load_scene(spec: str | Path, assets: str | Path | None = None, radius: float = DEFAULTS["radius"],
               cell: float = DEFAULTS["cell"], use_cache: bool = True) -> PreparedScene:
    """Load a scene by SCENE spec (see module docstring).

    A prepared folder whose source mesh has changed since it was prepared is rebuilt in
    place with the same options.

    Raises:
        SceneSpecError: the spec matches nothing (message lists the accepted forms).
        egogen.scene.mesh_import.SceneImportError: an unusable mesh file.
    """
    s = str(spec)
    if s == "floor" or s.startswith("floor:"):
        seed_s = s.partition(":")[2]
        if seed_s and not seed_s.isdigit():
            raise SceneSpecError(f"bad floor seed {seed_s!r}: use floor or floor:SEED (SEED >= 0)")
        return load_training_floor(int(seed_s) if seed_s else None, radius=radius, cell=cell, use_cache=use_cache)
    if s == "apartment" or s.startswith("apartment:"):
        seed_s = s.partition(":")[2] or "0"
        if not seed_s.isdigit():
            raise SceneSpecError(f"bad apartment seed {seed_s!r}: use apartment or apartment:SEED (SEED >= 0)")
        return load_apartment(int(seed_s), assets, radius=radius, cell=cell, use_cache=use_cache)
    p = Path(s).expanduser()
    if p.is_dir() and (p / "prepared.json").exists():
        m = json.loads((p / "prepared.json").read_text())
        if m.get("kind") == "mesh" and Path(m["source"]).is_file() \
                and cache.file_digest(Path(m["source"])) != m.get("source_sha256"):
            return prepare_mesh(m["source"], m["up"], m["scale"], m["floor"], radius, cell, use_cache, out=p)
        return _load_folder(p, radius, cell)
    if p.is_file():
        return prepare_mesh(p, radius=radius, cell=cell, use_cache=use_cache)
    raise SceneSpecError(f"scene {s!r} not found: pass 'apartment', 'apartment:SEED', 'floor[:SEED]', a folder made by "
                         "'egogen scene prepare ... --out DIR', or a .gltf/.glb/.ply/.obj file")
