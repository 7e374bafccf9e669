"""Import any indoor mesh (glTF/GLB, PLY, OBJ) as an egogen scene: Z up, metres, floor at
z = 0, with per-object semantics where the file has them (glTF nodes, OBJ objects/groups,
a PLY face property such as ``label`` / ``object_id``).

Errors are :class:`SceneImportError` with a message that names the problem and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import trimesh

from egogen.scene.model import Material, Scene, SceneObject, normalise_label

SUFFIXES = (".gltf", ".glb", ".ply", ".obj")
UP_CHOICES = ("auto", "y", "z")
#: A prepared indoor scene must be between these sizes (largest extent, metres).
MIN_EXTENT, MAX_EXTENT = 0.2, 500.0
PLY_FACE_LABEL_KEYS = ("object_id", "objectId", "instance_id", "instance", "label", "category_id")
FLOOR_BIN = 0.02  # height histogram bin for finding the floor, metres
Y_TO_Z = trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0))  # (x, y, z) -> (x, -z, y)


class SceneImportError(ValueError):
    """A mesh file cannot be turned into a scene; the message says what to do."""


def _label_from_name(name: str) -> str:
    tokens = re.split(r"[\s._\-/]+", name.split("/")[-1])
    while len(tokens) > 1 and (not tokens[-1] or re.search(r"\d", tokens[-1])):
        tokens.pop()  # drop numbering / hash suffixes: "sofa_03_de609d" -> "sofa"
    return normalise_label(" ".join(tokens)) or "object"


def _load(path: Path) -> trimesh.Scene:
    if not path.exists():
        raise SceneImportError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise SceneImportError(f"{path}: is a folder; pass a .gltf/.glb/.ply/.obj file")
    if path.suffix.lower() not in SUFFIXES:
        raise SceneImportError(f"{path}: unsupported format {path.suffix!r}; egogen reads "
                               f"{', '.join(SUFFIXES)} (convert with Blender or meshlab)")
    if path.stat().st_size == 0:
        raise SceneImportError(f"{path}: the file is empty (0 bytes); re-export the scene")
    try:
        kw = {"split_objects": True, "split_groups": True, "group_material": False} if path.suffix.lower() == ".obj" else {}
        loaded = trimesh.load(path, force="scene", process=False, **kw)
    except Exception as e:  # trimesh raises many types for broken files
        raise SceneImportError(f"{path}: could not be read as {path.suffix[1:].upper()} ({type(e).__name__}: "
                               f"{str(e)[:160]}); the file looks corrupt or truncated - re-export it "
                               "(for glTF keep the .bin and textures next to it)") from e
    return loaded


def _gather(sc: trimesh.Scene, path: Path):
    """Flatten the scene graph into (vertices, faces, per-face instance, names, colours)."""
    verts, faces, inst, names, colours, off = [], [], [], [], [], 0
    n_points = 0
    for node in sc.graph.nodes_geometry:
        T, gname = sc.graph[node]
        g = sc.geometry[gname]
        if not isinstance(g, trimesh.Trimesh):
            if isinstance(g, trimesh.PointCloud):
                n_points += len(g.vertices)
            continue
        if len(g.faces) == 0:
            continue
        v = trimesh.transformations.transform_points(g.vertices, T)
        f = np.asarray(g.faces, np.int64)
        raw = (g.metadata or {}).get("_ply_raw", {}).get("face", {}).get("data")
        key = None
        if raw is not None and getattr(raw, "dtype", None) is not None and raw.dtype.names:
            key = next((k for k in PLY_FACE_LABEL_KEYS if k in raw.dtype.names), None)
        if key is not None:  # PLY with a per-face object/label property
            vals = np.asarray(raw[key]).reshape(-1)
            uniq, local = np.unique(vals, return_inverse=True)
            for u in uniq:
                names.append(f"{key}_{u}")
                colours.append(_colour(g))
            inst.append(local + len(names) - len(uniq))
        else:
            names.append(_label_from_name(str(node if node != gname else gname)))
            colours.append(_colour(g))
            inst.append(np.full(len(f), len(names) - 1))
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    if not faces:
        if n_points:
            raise SceneImportError(f"{path}: contains a point cloud ({n_points} points) but no triangles; "
                                   "mesh it first (e.g. open3d Poisson or ball-pivoting reconstruction)")
        raise SceneImportError(f"{path}: contains no triangles (empty or non-mesh content); export the "
                               "scene geometry as a triangle mesh")
    return (np.concatenate(verts), np.concatenate(faces), np.concatenate(inst).astype(np.int32),
            names, colours)


def _colour(g: trimesh.Trimesh) -> tuple[float, float, float]:
    try:
        if g.visual.kind == "face":
            c = g.visual.face_colors[:, :3].mean(0) / 255
        elif g.visual.kind == "vertex":
            c = g.visual.vertex_colors[:, :3].mean(0) / 255
        else:
            mat = getattr(g.visual, "material", None)
            bc = getattr(mat, "baseColorFactor", None)
            if bc is None:
                bc = getattr(mat, "main_color", None)
            c = np.asarray(bc[:3], float) / (255 if np.max(bc[:3]) > 1 else 1) if bc is not None else [0.7] * 3
    except Exception:
        c = [0.7] * 3
    return tuple(float(v) for v in np.clip(c, 0, 1))


def guess_up(vertices: np.ndarray, faces: np.ndarray, suffix: str) -> str:
    """Guess the up axis: glTF/GLB are Y-up by the glTF 2.0 standard; otherwise the axis
    (y or z) whose lowest upward-facing surface (the floor) has the larger area."""
    if suffix in (".gltf", ".glb"):
        return "y"
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(n, axis=1) / 2
    nz = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    scores = {}
    for ax, i in (("y", 1), ("z", 2)):
        c = tri[:, :, i].mean(1)
        lo, hi = vertices[:, i].min(), vertices[:, i].max()
        low = c <= lo + 0.15 * (hi - lo)
        scores[ax] = area[(nz[:, i] > 0.9) & low].sum()
    return "y" if scores["y"] > 1.2 * scores["z"] else "z"


def find_floor(vertices: np.ndarray, faces: np.ndarray) -> tuple[float, bool]:
    """Floor height of a Z-up mesh.

    Returns:
        (z, found): the height of the lowest large upward-facing surface (area at least
        30 % of the largest one, in 2 cm bins) and whether it is a floor: it covers at
        least 40 % of the horizontal bounding box and lies in the lowest 30 % of the
        mesh's height (a floor slab's underside may be below it), and the mesh is at least 1.5 m across in x and y
        (a room, not a piece of furniture). When not found, z is the lowest vertex.
    """
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(n, axis=1) / 2
    up = n[:, 2] > 0.9 * np.linalg.norm(n, axis=1)
    zmin = float(vertices[:, 2].min())
    if not up.any():
        return zmin, False
    z = tri[up, :, 2].mean(1)
    bins = np.floor((z - zmin) / FLOOR_BIN).astype(np.int64)
    hist = np.bincount(bins, weights=area[up])
    cand = np.nonzero(hist >= 0.3 * hist.max())[0]
    b = int(cand[0])
    in_bin = bins == b
    zf = float(np.average(z[in_bin], weights=area[up][in_bin]))
    ext = vertices[:, :2].max(0) - vertices[:, :2].min(0)
    zext = float(vertices[:, 2].max()) - zmin
    found = (hist[b] >= 0.4 * max(float(ext[0] * ext[1]), 1e-9) and zf - zmin <= 0.3 * zext
             and float(ext.min()) >= 1.5)
    return (zf if found else zmin), bool(found)


def import_mesh(path: str | Path, up: str = "auto", scale: float = 1.0, floor: str = "auto",
                floor_margin: float = 1.5) -> Scene:
    """Read a mesh file and express it as an egogen scene.

    Args:
        path: .gltf/.glb/.ply/.obj file (holes and non-watertight meshes are fine).
        up: ``"y"``, ``"z"`` or ``"auto"`` (see :func:`guess_up`); Y-up is rotated to Z-up.
        scale: multiply coordinates by this to get metres (0.01 for cm, 0.001 for mm).
        floor: ``"auto"`` (add a floor plane when none is found, e.g. a single furniture
            asset), ``"add"`` (always add one), ``"none"``.
        floor_margin: how far (m) an added floor extends beyond the mesh.
    Returns:
        :class:`~egogen.scene.model.Scene` with the floor at z = 0, ``meta`` holding up,
        scale, floor_found, floor_added, floor_offset (m subtracted from z).
    Raises:
        SceneImportError: missing/empty/corrupt/unsupported file, no triangles (e.g. a
            point cloud), bad ``up``/``scale``, or an absurd size (suggests ``--scale``).
    """
    path = Path(path)
    if up not in UP_CHOICES:
        raise SceneImportError(f"--up must be one of {UP_CHOICES}, got {up!r}")
    if floor not in ("auto", "add", "none"):
        raise SceneImportError(f"--floor must be auto, add or none, got {floor!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise SceneImportError(f"--scale must be a positive number, got {scale}")
    sc = _load(path)
    v, f, inst, names, colours = _gather(sc, path)
    if not np.isfinite(v).all():
        raise SceneImportError(f"{path}: has NaN/inf vertex coordinates; repair the mesh before import")
    up_used = guess_up(v, f, path.suffix.lower()) if up == "auto" else up
    if up_used == "y":
        v = trimesh.transformations.transform_points(v, Y_TO_Z)
    v = v * scale
    ext = float((v.max(0) - v.min(0)).max())
    if not (MIN_EXTENT <= ext <= MAX_EXTENT):
        hint = ""
        for s, unit in ((0.001, "millimetres"), (0.01, "centimetres"), (0.0254, "inches"), (1000.0, "kilometres")):
            if MIN_EXTENT <= ext * s <= 50:
                hint = f"; if the file is in {unit}, pass --scale {s * scale:g}"
                break
        raise SceneImportError(f"{path}: the scene is {ext:.4g} m across after --scale {scale:g}, outside "
                               f"the plausible {MIN_EXTENT}-{MAX_EXTENT} m for an indoor scene{hint}")
    zf, found = find_floor(v, f)
    v = v - np.array([0.0, 0.0, zf])
    objects = [SceneObject(i, names[i], Material(colours[i]),
                           ((0, 0, 0), (0, 0, 0))) for i in range(len(names))]
    added = floor == "add" or (floor == "auto" and not found)
    if added:
        lo, hi = v[:, :2].min(0) - floor_margin, v[:, :2].max(0) + floor_margin
        slab = trimesh.creation.box(extents=(*(hi - lo), 0.05),
                                    transform=trimesh.transformations.translation_matrix(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, -0.025)))
        f = np.concatenate([f, np.asarray(slab.faces) + len(v)])
        v = np.concatenate([v, slab.vertices])
        inst = np.concatenate([inst, np.full(len(slab.faces), len(objects), np.int32)])
        objects.append(SceneObject(len(objects), "floor", Material((0.75, 0.75, 0.75), "solid"), ((0, 0, 0), (0, 0, 0))))
    # bounds per object
    fixed = []
    for o in objects:
        fv = v[f[inst == o.instance_id].ravel()]
        b = (tuple(float(x) for x in fv.min(0)), tuple(float(x) for x in fv.max(0)))
        fixed.append(SceneObject(o.instance_id, o.label, o.material, b))
    meta = {"up": up_used, "scale": scale, "floor_found": found, "floor_added": added,
            "floor_offset": zf, "format": path.suffix.lower()[1:]}
    return Scene(v, f, inst, fixed, [], path.stem, str(path.resolve()), None, meta)
