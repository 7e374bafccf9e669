"""The one label table of rendered segmentation: semantic class ids and instance ids.

- Semantic ids index :data:`SEMANTIC_LABELS`: 0 ``"other"`` (a scene label not in the
  table), 1 ``"person"``, then structure (floor, wall, ceiling) and the apartment's
  furniture catalogue (scenes/apartment.yaml). Labels are compared after
  :func:`egogen.scene.model.normalise_label`. Background (no surface) is
  :data:`BACKGROUND` = -1.
- Instance ids: a scene object keeps its ``SceneObject.instance_id`` (0, 1, ...); person k
  of a frame gets ``person_id_base(scene) + k`` (1000 + k for any scene with fewer than
  1000 objects); background is -1.
"""

from __future__ import annotations

import numpy as np

from egogen.scene.model import Scene, normalise_label

BACKGROUND = -1
"""Instance and semantic id of pixels that see no surface."""

PERSON_LABEL = "person"

SEMANTIC_LABELS: tuple[str, ...] = (
    "other", PERSON_LABEL, "floor", "wall", "ceiling",
    "sofa", "armchair", "coffee_table", "tv_stand", "bookshelf", "plant", "kitchen_counter",
    "fridge", "dining_table", "chair", "bed", "nightstand", "wardrobe", "desk", "dresser",
    "bathtub", "toilet", "sink", "shoe_cabinet", "door", "window", "table", "cabinet", "lamp",
)
"""Semantic class names; the position is the class id. Append only (ids are data)."""

SEMANTIC_ID = {name: i for i, name in enumerate(SEMANTIC_LABELS)}


def semantic_id(label: str) -> int:
    """Class id of a label (``"Kitchen counter"`` -> id of ``kitchen_counter``); 0 if unknown."""
    return SEMANTIC_ID.get(normalise_label(label), 0)


def person_id_base(scene: Scene) -> int:
    """First person instance id: the smallest multiple of 1000 above every scene instance id."""
    top = max((o.instance_id for o in scene.objects), default=-1)
    return 1000 * (top // 1000 + 1)


def instance_to_semantic(scene: Scene, num_people: int = 64) -> np.ndarray:
    """Lookup table from instance id to semantic id.

    Returns:
        (person_id_base(scene) + num_people + 1,) int32 ``lut``; ``lut[i]`` is the class of
        instance ``i``; the last entry is for -1 (background), so ``lut[ids]`` works on an
        int image with -1 in it.
    """
    base = person_id_base(scene)
    lut = np.zeros(base + num_people + 1, dtype=np.int32)
    for o in scene.objects:
        lut[o.instance_id] = semantic_id(o.label)
    lut[base:base + num_people] = SEMANTIC_ID[PERSON_LABEL]
    lut[-1] = BACKGROUND
    return lut


def semantic_from_instance(instance: np.ndarray, scene: Scene) -> np.ndarray:
    """(H, W) int32 semantic ids of an (H, W) int instance image (-1 stays -1)."""
    inst = np.asarray(instance)
    n_people = max(1, int(inst.max(initial=0)) - person_id_base(scene) + 1)
    lut = instance_to_semantic(scene, n_people)
    return lut[inst].astype(np.int32)
