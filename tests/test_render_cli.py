"""egogen render: simulated samples -> rendered frames in sibling shards (ray caster, tiny images).

One scripted episode with two people (two samples, one per shard) is simulated once; the
ray-cast engine renders it at 40-64 px.
"""

import hashlib
import json
import shutil
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from egogen.cli import app
from egogen.data import iter_samples, read_index
from egogen.data.samples import decode_sample
from egogen.render.camera import CameraModel
from egogen.render.dataset import RenderConfig, frame_indices, render_dataset
from egogen.render.labels import BACKGROUND, person_id_base, semantic_id
from egogen.sim.gaze import FIXATION, PERSON_ID_BASE

runner = CliRunner()
RES = "40"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from egogen.sim.simulate import SimulateConfig, simulate

    folder = tmp_path_factory.mktemp("sim") / "ds"
    # a short episode, no goal gate: these tests check rendering, not the walkers
    simulate(SimulateConfig(scene="apartment:2", source="scripted", n=2, agents=2, goals=(1, 1), max_duration_s=5.0,
                            require_goals=False, max_penetration_frames=1.0, min_person_distance=0.0,
                            samples_per_shard=1), folder)
    return folder


@pytest.fixture(scope="module")
def rendered(dataset):
    result = runner.invoke(app, ["render", str(dataset), "--engine", "raycast", "--resolution", RES])
    assert result.exit_code == 0, result.output
    return dataset / "render-raycast"


def _tree(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_every_sample_gets_its_frames_depth_and_labelled_segmentation(dataset, rendered):
    from egogen.scene import load_scene

    scene = load_scene("apartment:2").scene
    base = person_id_base(scene)
    scene_ids = {o.instance_id: o.label for o in scene.objects}
    source = {k: decode_sample(m) for k, m in iter_samples(dataset)}
    out = [(k, decode_sample(m)) for k, m in iter_samples(rendered)]
    assert [k for k, _ in out] == list(source)  # same keys, same order
    seen_others = 0
    for key, r in out:
        s = source[key]
        fr, T = r["frames.json"], s["meta.json"]["num_frames"]
        F = int(np.floor((T - 1) * 8 / 30)) + 1  # every k with k / 8 s inside the episode
        assert len(fr["frame_index"]) == F and fr["frame_index"][:4] == [0, 4, 8, 11]  # nearest, 3.75 -> 4, 7.5 -> 8
        assert fr["timestamps_ns"] == s["camera.npz"]["timestamps_ns"][fr["frame_index"]].tolist()
        assert set(r) == {"frames.json", "depth.npz", "normal.npz", "seg.npz"}  # the ray caster has no rgb
        depth, inst, sem = r["depth.npz"]["depth"], r["seg.npz"]["instance"], r["seg.npz"]["semantic"]
        assert depth.dtype == np.float16 and depth.shape == (F, 40, 40) and np.all(np.isfinite(depth))
        assert depth.min() >= 0 and (depth > 0).mean() > 0.95  # inside a closed apartment nearly every ray hits
        assert np.array_equal(depth == 0, inst == BACKGROUND)
        people = {int(s["meta.json"]["person_id"]), *map(int, s["others.npz"]["person_id"])}
        ids = set(np.unique(inst).tolist())
        assert ids <= set(scene_ids) | {base + p for p in people} | {BACKGROUND}
        lut = {i: semantic_id(scene_ids[i]) if i in scene_ids else (1 if i >= base else BACKGROUND) for i in ids}
        assert np.array_equal(sem, np.vectorize(lut.get)(inst).astype(np.int16))
        # the other person, where seen, is at the depth of its pelvis in this camera
        idx = np.asarray(fr["frame_index"])
        T_wc = s["camera.npz"]["T_world_camera"][idx]
        for j, pid in enumerate(s["others.npz"]["person_id"]):
            pelvis = s["others.npz"]["transl"][j, idx]
            z = np.einsum("ni,ni->n", T_wc[:, :3, 2], pelvis - T_wc[:, :3, 3])
            for f in np.flatnonzero((inst == base + pid).sum(axis=(1, 2)) >= 5):
                seen_others += 1
                assert abs(np.median(depth[f][inst[f] == base + pid]) - z[f]) < 0.4
        assert np.allclose(np.linalg.norm(r["normal.npz"]["normal"].astype(np.float32), axis=-1)[depth > 0], 1, atol=0.01)
    assert seen_others >= 5  # the wearers meet (this episode: wearer 0 sees person 1 for 3 s)
    result = runner.invoke(app, ["validate", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and [(r["ok"], r["wearers"]) for r in report["renders"]] == [(True, 2)]


def test_same_bytes_on_every_run_and_for_any_number_of_workers(dataset, rendered, tmp_path):
    result = runner.invoke(app, ["render", str(dataset), "--engine", "raycast", "--resolution", RES, "--workers", "2",
                                 "--out", str(tmp_path / "w2")])
    assert result.exit_code == 0, result.output
    assert _tree(tmp_path / "w2") == _tree(rendered)


def test_a_limited_run_continued_gives_the_bytes_of_one_full_run(dataset, rendered, tmp_path):
    out = tmp_path / "part"
    args = ["render", str(dataset), "--engine", "raycast", "--resolution", RES, "--out", str(out)]
    assert runner.invoke(app, args + ["--limit", "1"]).exit_code == 0
    assert read_index(out)["num_samples"] == 1
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "1 rendered now, 1 before" in result.output, result.output
    assert _tree(out) == _tree(rendered)
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 rendered now" in again.output
    other = runner.invoke(app, ["render", str(dataset), "--engine", "raycast", "--resolution", "48", "--out", str(out)])
    assert other.exit_code == 2 and "resolution 40 -> 48" in other.output


def test_the_fixated_point_is_at_the_gaze_pixel_and_the_rendered_depth(dataset, tmp_path):
    """Gaze (simulated independently of rendering, by ray casts from the same camera) knows
    the fixated world point, its pixel and distance; the renderer must place it there."""
    out = tmp_path / "r64"
    render_dataset(dataset, RenderConfig(engine="raycast", resolution=64), out=out)
    source = {k: decode_sample(m) for k, m in iter_samples(dataset)}
    checked = 0
    for key, members in iter_samples(out):
        r, s = decode_sample(members), source[key]
        fr = r["frames.json"]
        idx = np.asarray(fr["frame_index"])
        p = fr["camera"]["params"]
        cam = CameraModel(fr["camera"]["model"], fr["width"], fr["height"], p["fx"], p["fy"], p["cx"], p["cy"],
                          tuple(p.get(f"k{i}", 0.0) for i in range(1, 5)))
        g = {k: v[idx] for k, v in s["gaze.npz"].items() if k.startswith(("event", "target", "object", "pixel",
                                                                           "depth", "direction"))}
        # fixations on furniture / structure the gaze model saw unoccluded
        sel = (g["event"] == FIXATION) & g["target_visible"] & (g["object_id"] >= 0) & (g["object_id"] < PERSON_ID_BASE)
        T = s["camera.npz"]["T_world_camera"][idx][sel]
        pc = np.einsum("nji,nj->ni", T[:, :3, :3], g["target_world"][sel] - T[:, :3, 3])
        uv, ok = cam.project(pc)
        scale = fr["width"] / s["camera.npz"]["image_size"][0]
        assert ok.all() and np.abs(uv - g["pixel"][sel] * scale).max() < 0.01
        u, v = np.round(uv).astype(int).T
        rows = np.flatnonzero(sel)
        depth = r["depth.npz"]["depth"][rows, v, u].astype(np.float64)
        planar = g["depth"][sel] * g["direction"][sel, 2]  # gaze depth is the distance; rendered depth is z
        rel = np.abs(depth - planar) / planar
        assert np.median(rel) < 0.02 and (rel < 0.05).mean() >= 0.9, rel
        assert (r["seg.npz"]["instance"][rows, v, u] == g["object_id"][sel]).mean() >= 0.9
        checked += len(rows)
    assert checked >= 20


def test_a_corrupt_input_shard_is_reported_and_skipped_then_rendered_once_repaired(dataset, rendered, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken, ignore=shutil.ignore_patterns("render-*"))
    good = (broken / "shard-000001.tar").read_bytes()
    (broken / "shard-000001.tar").write_bytes(good[:1000])  # truncated
    args = ["render", str(broken), "--engine", "raycast", "--resolution", RES]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "skipped" in result.output and "shard-000001.tar (1 samples)" in result.output
    assert [k for k, _ in iter_samples(broken / "render-raycast")] == read_index(dataset)["shards"][0]["keys"]
    (broken / "shard-000001.tar").write_bytes(good)
    assert runner.invoke(app, args).exit_code == 0
    assert _tree(broken / "render-raycast") == _tree(rendered)


def test_validate_reports_broken_rendered_streams(rendered, tmp_path):
    from egogen.data.shards import ShardWriter
    from egogen.data.validate import validate_dataset
    from egogen.npz import npz_bytes

    key, members = next(iter_samples(rendered))
    s = decode_sample(members)
    depth = s["depth.npz"]["depth"].copy()
    depth[0, 0, 0] = -1
    inst = s["seg.npz"]["instance"].copy()
    inst[1, 0, 0] = 777777
    fr = s["frames.json"] | {"timestamps_ns": s["frames.json"]["timestamps_ns"][::-1]}
    bad = members | {"depth.npz": npz_bytes(s["depth.npz"] | {"depth": depth}),
                     "seg.npz": npz_bytes(s["seg.npz"] | {"instance": inst}),
                     "frames.json": json.dumps(fr).encode()}
    bad.pop("normal.npz")
    with ShardWriter(tmp_path / "bad", 4, read_index(rendered)["config"]) as w:
        w.add(key, bad)
    messages = " | ".join(e["message"] for e in validate_dataset(tmp_path / "bad").errors)
    for text in ("depth: 1 negative", "777777", "timestamps_ns are not those", "member missing"):
        assert text in messages, (text, messages)


def test_missing_blender_names_the_extra_and_the_engines_that_work_without_it(dataset, monkeypatch):
    monkeypatch.setitem(sys.modules, "bpy", None)  # `import bpy` fails as if not installed
    result = runner.invoke(app, ["render", str(dataset), "--engine", "cycles", "--out", str(dataset / "nope")])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "pip install 'egogen[render]'" in out and "--engine pyrender" in out and "--engine raycast" in out
    assert not (dataset / "nope").exists()


def test_pinhole_engines_refuse_a_fisheye_rig_and_bad_options_are_usage_errors(dataset):
    result = runner.invoke(app, ["render", str(dataset), "--engine", "pyrender"])
    assert result.exit_code == 2 and "--rig pinhole" in " ".join(result.output.split())
    for bad in (["--fps", "60"], ["--samples", "4"], ["--rig", "nope"], ["--resolution", "2"]):
        result = runner.invoke(app, ["render", str(dataset), "--engine", "raycast", *bad])
        assert result.exit_code == 2, (bad, result.output)
    assert runner.invoke(app, ["render", str(dataset), "--engine", "eevee"]).exit_code == 2


def test_frame_indices_are_the_nearest_30hz_frames():
    assert frame_indices(173, 8).tolist()[:7] == [0, 4, 8, 11, 15, 19, 23]  # 22.5 -> 23
    assert len(frame_indices(173, 8)) == 46 and frame_indices(173, 8)[-1] == 169
    assert np.array_equal(frame_indices(31, 30), np.arange(31)) and frame_indices(1, 8).tolist() == [0]
    with pytest.raises(ValueError, match="30"):
        frame_indices(10, 31)


def test_help_says_what_it_reads_writes_and_how_fast_each_engine_is():
    result = runner.invoke(app, ["render", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in ("render-<engine>", "frames.json", "depth", "raycast", "pyrender", "workbench", "cycles", "--limit"):
        assert word in text, word
