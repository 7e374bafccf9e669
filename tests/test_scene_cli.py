"""`egogen scene prepare | info | show` from the command line."""

import json

import pytest
from typer.testing import CliRunner

from egogen.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOGEN_CACHE", str(tmp_path / "cache"))


def test_info_json_reports_rooms_objects_and_areas():
    r = runner.invoke(app, ["scene", "info", "apartment:1", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["seed"] == 1 and 4 <= len(info["rooms"]) <= 7
    assert info["objects_by_label"]["sofa"] >= 1
    assert 0 < info["walkable_area_m2"] < info["floor_area_m2"]
    assert info["walkable_components"] >= 1 and len(info["bounds"]) == 2


def test_show_writes_a_png_map(tmp_path):
    out = tmp_path / "map.png"
    r = runner.invoke(app, ["scene", "show", "apartment", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_prepare_cc0_gltf_then_info_on_the_prepared_folder(shared_dir, tmp_path):
    src = shared_dir / "assets" / "cc0" / "painted_wooden_stool_1k.gltf"
    r = runner.invoke(app, ["scene", "prepare", str(src), "--out", str(tmp_path / "stool")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["scene", "info", str(tmp_path / "stool"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["meta"]["up"] == "y"


def test_prepare_bad_file_exits_2_with_the_fix(tmp_path):
    p = tmp_path / "empty.glb"
    p.write_bytes(b"")
    r = runner.invoke(app, ["scene", "prepare", str(p)])
    assert r.exit_code == 2 and "empty" in r.output


def test_unknown_scene_spec_is_explained():
    r = runner.invoke(app, ["scene", "info", "no/such/scene"])
    assert r.exit_code == 2 and "apartment:SEED" in r.output
