"""The scene description every other part reads: geometry with per-face instance ids,
the objects (label, instance id, material) and, for generated scenes, the rooms.

World frame: right-handed, Z up, metres, floor at z = 0 (see DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egogen.npz import save_npz

#: Labels that are structure, not furniture (kept out of furniture counts and drawings).
STRUCTURE_LABELS = ("floor", "ceiling", "wall")


@dataclass(frozen=True)
class Material:
    """What a renderer needs to shade an object.

    Attributes:
        colour: linear RGB base colour, three floats in [0, 1].
        pattern: procedural pattern name (``"wood_planks"``, ``"tiles"``, ``"fabric_weave"``,
            ``"plaster"``, ``"marble"`` ...) or ``"texture"`` when ``texture`` is set.
        texture: optional path of an image or glTF file that carries the real material.
    """

    colour: tuple[float, float, float]
    pattern: str = "solid"
    texture: str | None = None


@dataclass(frozen=True)
class SceneObject:
    """One object instance of the scene.

    Attributes:
        instance_id: unique id >= 0; the faces of this object carry it in
            ``Scene.face_instance``.
        label: semantic class, snake_case (``"sofa"``, ``"kitchen_counter"``, ``"wall"``).
        material: its material.
        bounds: (2, 3) world-frame axis-aligned bounds [min, max], metres.
        room: name of the room it stands in, or None.
        yaw: rotation about +Z (radians) of the object's local frame; its front faces
            local -y, i.e. world direction (sin yaw, -cos yaw). None when unknown.
    """

    instance_id: int
    label: str
    material: Material
    bounds: tuple[tuple[float, float, float], tuple[float, float, float]]
    room: str | None = None
    yaw: float | None = None

    @property
    def front(self) -> np.ndarray | None:
        """(2,) unit world xy direction the object faces, or None if unknown."""
        if self.yaw is None:
            return None
        return np.array([np.sin(self.yaw), -np.cos(self.yaw)])

    @property
    def centre(self) -> np.ndarray:
        """(3,) centre of the bounds, metres."""
        b = np.asarray(self.bounds)
        return b.mean(axis=0)


@dataclass(frozen=True)
class Room:
    """A rectangular room of a generated apartment.

    Attributes:
        name: unique name, e.g. ``"bedroom_2"``.
        kind: room type from the recipe (``"living_room"``, ``"kitchen"`` ...).
        rect: (xmin, ymin, xmax, ymax) of the room measured on wall centre lines, metres.
        doors: list of ((x, y) centre, width m, axis "x"|"y" the opening runs along,
            name of the room on the other side).
    """

    name: str
    kind: str
    rect: tuple[float, float, float, float]
    doors: tuple = ()

    @property
    def area(self) -> float:
        """Area inside the wall centre lines, m2."""
        x0, y0, x1, y1 = self.rect
        return (x1 - x0) * (y1 - y0)


@dataclass
class Scene:
    """A static indoor scene: one triangle mesh plus semantics.

    Attributes:
        vertices: (V, 3) float64 world-frame vertex positions, metres, Z up, floor at 0.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside.
        face_instance: (F,) int32 instance id of each face (see ``objects``).
        objects: the object instances, ``objects[i].instance_id == i``.
        rooms: rooms of a generated apartment (empty for imported meshes).
        name: short name (``"apartment-7"``, the file stem of an imported mesh).
        source: where it came from (``"apartment"`` or the imported file path).
        seed: generator seed, or None.
        meta: free-form JSON-serialisable facts (up axis, scale, floor level ...).
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_instance: np.ndarray
    objects: list[SceneObject]
    rooms: list[Room] = field(default_factory=list)
    name: str = "scene"
    source: str = ""
    seed: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries
    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64 [min, max] of all vertices, metres."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def objects_with_label(self, label: str) -> list[SceneObject]:
        """Objects whose label matches ``label`` (case, spaces and dashes ignored)."""
        key = normalise_label(label)
        return [o for o in self.objects if normalise_label(o.label) == key]

    def labels(self) -> dict[str, int]:
        """Object count per label, sorted by label."""
        out: dict[str, int] = {}
        for o in self.objects:
            out[o.label] = out.get(o.label, 0) + 1
        return dict(sorted(out.items()))

    def select(self, keep) -> "Scene":
        """Sub-scene with the faces of the objects for which ``keep(obj)`` is true.

        Instance ids are preserved (``objects`` keeps every entry)."""
        mask_obj = np.array([bool(keep(o)) for o in self.objects])
        fmask = mask_obj[self.face_instance]
        return Scene(self.vertices, self.faces[fmask], self.face_instance[fmask], self.objects,
                     self.rooms, self.name, self.source, self.seed, dict(self.meta))

    # ------------------------------------------------------------------ export
    def to_trimesh(self):
        """One ``trimesh.Trimesh`` with per-face colours from the object materials."""
        import trimesh

        colours = np.array([o.material.colour for o in self.objects] or [[0.5, 0.5, 0.5]])
        fc = (np.clip(colours[self.face_instance], 0, 1) * 255).astype(np.uint8)
        fc = np.concatenate([fc, np.full((len(fc), 1), 255, np.uint8)], axis=1)
        return trimesh.Trimesh(self.vertices, self.faces, face_colors=fc, process=False)

    def mesh_bytes(self) -> bytes:
        """Binary PLY of the whole mesh (vertices, faces, face colours); deterministic."""
        return self.to_trimesh().export(file_type="ply", encoding="binary")

    def to_glb(self) -> bytes:
        """GLB with one node per object, named ``<instance_id>_<label>``, Z up as stored."""
        import trimesh

        sc = trimesh.Scene()
        for o in self.objects:
            fmask = self.face_instance == o.instance_id
            if not fmask.any():
                continue
            sub = trimesh.Trimesh(self.vertices, self.faces[fmask], process=False)
            sub.remove_unreferenced_vertices()
            c = (np.array(o.material.colour) * 255).astype(np.uint8)
            sub.visual.face_colors = np.append(c, 255)
            sc.add_geometry(sub, node_name=f"{o.instance_id:04d}_{o.label}",
                            geom_name=f"{o.instance_id:04d}_{o.label}")
        return sc.export(file_type="glb")

    # ------------------------------------------------------------------ (de)serialise
    def semantics(self) -> dict[str, Any]:
        """JSON-ready description (objects, rooms, name, source, seed, meta)."""
        return {
            "name": self.name,
            "source": self.source,
            "seed": self.seed,
            "meta": self.meta,
            "objects": [asdict(o) for o in self.objects],
            "rooms": [asdict(r) for r in self.rooms],
        }

    def save(self, folder: Path) -> None:
        """Write ``scene.npz`` (geometry) and ``scene.json`` (semantics) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_npz(folder / "scene.npz", {"vertices": self.vertices, "faces": self.faces,
                                        "face_instance": self.face_instance})
        (folder / "scene.json").write_text(json.dumps(self.semantics(), indent=1))

    @classmethod
    def load(cls, folder: Path) -> "Scene":
        """Read a scene written by :meth:`save`.

        Raises:
            FileNotFoundError: if ``scene.npz`` or ``scene.json`` is missing.
        """
        folder = Path(folder)
        with np.load(folder / "scene.npz") as z:
            v, f, fi = z["vertices"], z["faces"], z["face_instance"]
        sem = json.loads((folder / "scene.json").read_text())
        objects = [
            SceneObject(o["instance_id"], o["label"], Material(tuple(o["material"]["colour"]),
                        o["material"]["pattern"], o["material"].get("texture")),
                        tuple(tuple(b) for b in o["bounds"]), o.get("room"), o.get("yaw"))
            for o in sem["objects"]
        ]
        rooms = [Room(r["name"], r["kind"], tuple(r["rect"]),
                      tuple((tuple(d[0]), d[1], d[2], d[3]) for d in r["doors"]))
                 for r in sem["rooms"]]
        return cls(v, f, fi, objects, rooms, sem["name"], sem["source"], sem["seed"], sem["meta"])

    def digest(self) -> str:
        """sha256 of the geometry and instance ids (hex)."""
        h = hashlib.sha256()
        for a in (self.vertices, self.faces, self.face_instance):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def normalise_label(label: str) -> str:
    """``"Kitchen counter"`` -> ``"kitchen_counter"``."""
    return "_".join(label.strip().lower().replace("-", " ").replace("_", " ").split())
