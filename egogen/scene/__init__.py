"""Scenes: the procedural ``apartment``, import of any user mesh, walkable map, path
planning, start/goal sampling and collision queries.

World frame everywhere: metres, Z up, floor at z = 0 (DESIGN.md). Start with
:func:`load_scene`::

    from egogen.scene import load_scene
    ps = load_scene("apartment:3")              # or a prepared folder / a mesh file
    task = ps.sample_start_goal(seed=0, min_dist=3.0)
    path = ps.plan_path(task.start, task.goal)  # PathResult(reachable, waypoints, length)
    sofa = ps.object_goal("sofa")               # standing point in front of a sofa
    hits = ps.collision.cast_rays(origins, dirs)  # depth, instance id, normal
"""

from egogen.scene.collision import Capsules, CollisionWorld, RayHits
from egogen.scene.mesh_import import SceneImportError, import_mesh
from egogen.scene.model import Material, Room, Scene, SceneObject
from egogen.scene.planning import PathResult, plan_path
from egogen.scene.prepared import (PreparedScene, SceneSpecError, load_apartment, load_scene,
                                   prepare_mesh)
from egogen.scene.sampling import NoSolution, ObjectGoal, StartGoal, resolve_object_goal, sample_start_goal
from egogen.scene.walkable import WalkableMap, build_walkable_map


def generate_apartment(seed: int = 0, recipe=None, assets=None) -> Scene:
    """Generate the procedural apartment (see :func:`egogen.scene.apartment.generate_apartment`)."""
    from egogen.scene.apartment import generate_apartment as _gen

    return _gen(seed, recipe, assets)


__all__ = [
    "Capsules", "CollisionWorld", "RayHits", "SceneImportError", "import_mesh", "Material", "Room",
    "Scene", "SceneObject", "PathResult", "plan_path", "PreparedScene", "SceneSpecError",
    "load_apartment", "load_scene", "prepare_mesh", "NoSolution", "ObjectGoal", "StartGoal",
    "resolve_object_goal", "sample_start_goal", "WalkableMap", "build_walkable_map",
    "generate_apartment",
]
