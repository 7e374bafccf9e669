"""Import of user meshes (CC0 glTF, PLY/OBJ made here), clear errors, and the cache."""

import numpy as np
import pytest
import trimesh

from egogen.scene import SceneImportError, import_mesh, load_scene, prepare_mesh


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOGEN_CACHE", str(tmp_path / "cache"))


def _room_mesh(scale=1.0, y_up=False) -> trimesh.Trimesh:
    """A 4 x 3 m floor (5 cm thick, top at z = 0.3) with a 1 x 1 x 0.8 m box on it."""
    floor = trimesh.creation.box((4, 3, 0.05), trimesh.transformations.translation_matrix((0, 0, 0.275)))
    box = trimesh.creation.box((1, 1, 0.8), trimesh.transformations.translation_matrix((1.0, 0.5, 0.7)))
    m = trimesh.util.concatenate([floor, box])
    if y_up:
        m.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))
    m.apply_scale(scale)
    return m


def test_cc0_gltf_imports_z_up_standing_on_the_floor(shared_dir):
    sc = import_mesh(shared_dir / "assets" / "cc0" / "sofa_03_1k.gltf")
    assert sc.meta["up"] == "y" and sc.meta["floor_added"]
    sofa = sc.objects_with_label("sofa")
    lo = np.min([o.bounds[0] for o in sofa], 0)
    hi = np.max([o.bounds[1] for o in sofa], 0)
    assert hi[2] - lo[2] == pytest.approx(1.118, abs=0.01)  # glTF +Y became +Z
    assert hi[0] - lo[0] == pytest.approx(2.731, abs=0.01)
    assert lo[2] == pytest.approx(0.0, abs=0.01)


def test_prepare_cc0_gltf_gives_walkable_floor_around_the_object(shared_dir, tmp_path):
    ps = prepare_mesh(shared_dir / "assets" / "cc0" / "wooden_table_02_1k.gltf", out=tmp_path / "table")
    wm = ps.walkable
    assert wm.walkable_area > 5.0 and wm.n_components == 1
    assert not wm.free[tuple(wm.world_to_cell(np.zeros(2)))]  # the table top blocks its footprint
    again = load_scene(tmp_path / "table")
    assert np.array_equal(again.walkable.walkable, wm.walkable)


def test_ply_made_here_with_centimetres_and_y_up_imports(tmp_path):
    path = tmp_path / "room.ply"
    _room_mesh(scale=100.0, y_up=True).export(path)
    sc = import_mesh(path, up="y", scale=0.01)
    assert sc.meta["floor_found"] and not sc.meta["floor_added"]
    assert sc.meta["floor_offset"] == pytest.approx(0.3, abs=1e-6)
    assert sc.bounds[1, 2] == pytest.approx(0.8, abs=1e-6)  # box top 1.1 m - floor 0.3 m
    ps = prepare_mesh(path, up="y", scale=0.01)
    wm = ps.walkable
    # 4 x 3 m floor minus a 0.25 m border minus the box grown by 0.25 m (rounded corners)
    expected = 3.5 * 2.5 - (1.5 * 1.5 - (4 - np.pi) * 0.25 ** 2)
    assert wm.walkable_area == pytest.approx(expected, rel=0.06)
    assert not wm.is_walkable(np.array([1.0, 0.5]))


def test_auto_up_detects_z_up_and_y_up_ply(tmp_path):
    for y_up in (False, True):
        p = tmp_path / f"r{y_up}.ply"
        _room_mesh(y_up=y_up).export(p)
        assert import_mesh(p).meta["up"] == ("y" if y_up else "z")


def test_obj_groups_become_labelled_objects(tmp_path):
    sc = trimesh.Scene()
    m = _room_mesh()
    sc.add_geometry(trimesh.creation.box((4, 3, 0.05)), geom_name="floor")
    sc.add_geometry(trimesh.creation.box((1, 1, 0.8), trimesh.transformations.translation_matrix((1, 0.5, 0.425))),
                    geom_name="armchair_01")
    p = tmp_path / "room.obj"
    sc.export(p)
    labels = set(import_mesh(p, up="z").labels())
    assert {"floor", "armchair"} <= labels, labels
    del m


@pytest.mark.parametrize("case, match", [
    ("empty", "empty"),
    ("corrupt", "corrupt"),
    ("points", "point cloud"),
    ("millimetres", "--scale 0.001"),
    ("missing", "not found"),
    ("format", "unsupported format"),
])
def test_bad_inputs_give_their_documented_error(tmp_path, case, match):
    p = tmp_path / {"format": "scene.fbx", "points": "pts.ply", "millimetres": "mm.ply"}.get(case, "x.glb")
    if case == "empty":
        p.write_bytes(b"")
    elif case == "corrupt":
        p.write_bytes(b"glTF\x02\x00\x00\x00" + bytes(range(200)))
    elif case == "points":
        trimesh.PointCloud(np.random.default_rng(0).random((100, 3))).export(p)
    elif case == "millimetres":
        _room_mesh(scale=1000.0).export(p)
    elif case == "format":
        p.write_text("not a mesh")
    with pytest.raises(SceneImportError, match=match):
        import_mesh(p)


def test_bad_scale_and_up_are_rejected(tmp_path):
    p = tmp_path / "r.ply"
    _room_mesh().export(p)
    with pytest.raises(SceneImportError, match="--scale"):
        import_mesh(p, scale=-1)
    with pytest.raises(SceneImportError, match="--up"):
        import_mesh(p, up="x")


def test_cache_is_reused_and_rebuilt_when_the_source_changes(tmp_path):
    p = tmp_path / "r.ply"
    _room_mesh().export(p)
    a = prepare_mesh(p)
    b = prepare_mesh(p)
    assert a.folder == b.folder and (a.folder / "prepared.json").exists()
    m = _room_mesh()
    m.apply_translation((0.5, 0, 0))
    m.export(p)
    c = prepare_mesh(p)
    assert c.folder != a.folder
    assert c.scene.bounds[0, 0] == pytest.approx(a.scene.bounds[0, 0] + 0.5)
