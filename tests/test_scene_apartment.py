"""The procedural apartment: deterministic, varied, realistic, driven by the recipe data."""

import copy

import numpy as np
import pytest

from egogen.scene import generate_apartment, load_apartment
from egogen.scene.collision import CollisionWorld
from egogen.scene.recipe import RecipeError, load_recipe
from egogen.scene.walkable import build_walkable_map


@pytest.fixture(scope="module")
def recipe():
    return load_recipe()


def test_same_seed_gives_identical_mesh_bytes_and_walkable_map(recipe):
    a, b = generate_apartment(3, recipe), generate_apartment(3, recipe)
    assert a.mesh_bytes() == b.mesh_bytes()
    assert a.semantics() == b.semantics()
    wa = build_walkable_map(CollisionWorld(a))
    wb = build_walkable_map(CollisionWorld(b))
    assert np.array_equal(wa.walkable, wb.walkable) and np.array_equal(wa.components, wb.components)


def test_different_seeds_give_different_layouts(recipe):
    layouts = {tuple((r.kind, r.rect) for r in generate_apartment(s, recipe).rooms) for s in range(5)}
    assert len(layouts) == 5


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_apartment_has_4_to_7_rooms_connected_by_doors_and_labelled_furniture(recipe, seed):
    sc = generate_apartment(seed, recipe)
    assert 4 <= len(sc.rooms) <= 7
    kinds = {r.kind for r in sc.rooms}
    assert {"living_room", "kitchen", "bathroom", "bedroom"} <= kinds
    assert all(len(r.doors) >= 1 for r in sc.rooms)
    for r in sc.rooms:  # realistic sizes
        x0, y0, x1, y1 = r.rect
        assert min(x1 - x0, y1 - y0) >= 1.2 and r.area < 40
    furn = [o for o in sc.objects if o.label not in ("wall", "floor", "ceiling")]
    assert {"sofa", "bed", "toilet", "kitchen_counter"} <= {o.label for o in furn}
    assert [o.instance_id for o in sc.objects] == list(range(len(sc.objects)))
    assert set(np.unique(sc.face_instance)) == set(range(len(sc.objects)))
    for o in furn:
        assert len(o.material.colour) == 3 and o.material.pattern != "solid" and o.room is not None
        assert o.bounds[0][2] >= 0.0  # stands on the floor, Z up
    assert abs(sc.bounds[0, 2] + 0.05) < 1e-9  # floor slab top at z = 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_walkable_area_is_35_to_80_percent_of_floor_area(seed):
    wm = load_apartment(seed, use_cache=False).walkable
    frac = wm.walkable_area / wm.floor_area
    assert 0.35 <= frac <= 0.80, frac
    assert wm.component_areas()[0] >= 0.92 * wm.walkable_area  # rooms are joined through doors


def test_recipe_numbers_drive_the_generator(recipe):
    small = copy.deepcopy(recipe)
    small["layout"]["n_rooms"] = [4, 4]
    small["structure"]["wall_height"] = 3.1
    sc = generate_apartment(5, small)
    assert len(sc.rooms) == 4
    assert sc.bounds[1, 2] == pytest.approx(3.1 + small["structure"]["ceiling_thickness"])


def test_recipe_with_unknown_item_is_rejected(tmp_path, recipe):
    text = (load_recipe.__globals__["default_recipe_path"]()).read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("- {item: sofa, place: wall", "- {item: spaceship, place: wall"))
    with pytest.raises(RecipeError, match="spaceship"):
        load_recipe(bad)


def test_cc0_assets_furnish_the_apartment_z_up(shared_dir, recipe):
    sc = generate_apartment(0, recipe, assets=shared_dir / "assets" / "cc0")
    sofas = sc.objects_with_label("sofa")
    assert sofas and all(o.material.texture and "sofa" in o.material.texture for o in sofas)
    (x0, y0, z0), (x1, y1, z1) = sofas[0].bounds
    assert z0 == pytest.approx(0.001, abs=1e-3)  # stands on the floor
    assert 0.7 < z1 - z0 < 1.2 < max(x1 - x0, y1 - y0)  # upright: height < width (Y-up turned Z-up)
