"""Assemble a :class:`~egogen.scene.model.Scene` from labelled trimesh parts."""

from __future__ import annotations

import numpy as np
import trimesh

from egogen.scene.model import Scene, SceneObject


class SceneBuilder:
    """Collects meshes with their semantics and assembles the Scene.

    Each :meth:`add` is one object instance (id = order of addition); :meth:`scene`
    concatenates them into one mesh whose faces carry their instance id.
    """

    def __init__(self):
        self.meshes: list[trimesh.Trimesh] = []
        self.objects: list[SceneObject] = []

    def add(self, mesh: trimesh.Trimesh, label, material, room=None, yaw=None):
        """Add one object instance (its id is the number of objects added before it).

        Args:
            mesh: world-frame geometry, metres, Z up.
            label: semantic class (snake_case).
            material: its :class:`~egogen.scene.model.Material`.
            room: room name, or None.
            yaw: rotation of the object's front about +Z (radians), or None.
        """
        iid = len(self.objects)
        b = mesh.bounds
        self.objects.append(SceneObject(iid, label, material,
                                        (tuple(float(v) for v in b[0]), tuple(float(v) for v in b[1])),
                                        room, None if yaw is None else float(yaw)))
        self.meshes.append(mesh)

    def scene(self, **kw) -> Scene:
        """The assembled :class:`Scene` (``kw``: rooms, name, source, seed, meta)."""
        verts, faces, inst, off = [], [], [], 0
        for i, m in enumerate(self.meshes):
            verts.append(np.asarray(m.vertices, np.float64))
            faces.append(np.asarray(m.faces, np.int64) + off)
            inst.append(np.full(len(m.faces), i, np.int32))
            off += len(m.vertices)
        return Scene(np.concatenate(verts), np.concatenate(faces), np.concatenate(inst),
                     self.objects, **kw)
