"""egogen validate: passes good shards, reports corrupted members, NaN, wrong shapes clearly."""

import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from typer.testing import CliRunner

from egogen.cli import app
from egogen.data.validate import validate_dataset
from egogen.npz import npz_bytes
from episode_helpers import write_dataset


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    write_dataset(folder)
    return folder


def _tamper(src, dst, member: str, edit):
    """Copy a dataset and rewrite one member of the first sample; the index sha256 is updated
    so only the content check can catch it."""
    shutil.copytree(src, dst)
    index = json.loads((dst / "index.json").read_text())
    shard = dst / index["shards"][0]["name"]
    with tarfile.open(shard) as tar:
        items = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    key = index["shards"][0]["keys"][0]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in items:
            if m.name == f"{key}.{member}":
                data = edit(data)
                if data is None:
                    continue
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    shard.write_bytes(buf.getvalue())
    index["shards"][0]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (dst / "index.json").write_text(json.dumps(index))
    return dst


def _edit_npz(name, fn):
    def edit(data):
        with np.load(io.BytesIO(data)) as z:
            arrays = {k: z[k] for k in z.files}
        arrays[name] = fn(arrays[name])
        return npz_bytes(arrays)
    return edit


def test_validate_passes_good_shards_and_counts_them(good):
    rep = validate_dataset(good)
    assert rep.ok, rep.summary()
    assert (rep.shards, rep.episodes, rep.wearers, rep.frames) == (2, 2, 4, 480)
    assert rep.hours == pytest.approx(480 / 30 / 3600)
    res = CliRunner().invoke(app, ["validate", str(good), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ok"] and out["errors"] == 0 and out["wearers"] == 4


def test_a_corrupted_shard_fails_the_checksum(good, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    shard = bad / "shard-000000.tar"
    data = bytearray(shard.read_bytes())
    data[5000] ^= 0xFF
    shard.write_bytes(bytes(data))
    rep = validate_dataset(bad)
    assert not rep.ok and any("sha256" in e["message"] for e in rep.errors)
    res = CliRunner().invoke(app, ["validate", str(bad), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["errors"] >= 1


@pytest.mark.parametrize("member,edit,expect", [
    ("motion.npz", _edit_npz("transl", lambda a: np.where(np.arange(len(a))[:, None] == 7, np.nan, a).astype(a.dtype)),
     "transl: 3 NaN or inf values"),
    ("camera.npz", _edit_npz("T_world_camera", lambda a: a[:, :3]), "T_world_camera: shape"),
    ("gaze.npz", _edit_npz("depth", lambda a: a.astype(np.float64)), "depth: dtype float64, expected float32"),
    ("gaze.npz", lambda d: d[: len(d) // 2], "unreadable npz"),
    ("sensors.npz", lambda d: None, "member missing"),
    ("camera.npz", _edit_npz("T_world_camera", lambda a: a + np.array([0, 0, 1.0, 0])[None, :, None] * np.eye(4)[3][None, None]),
     "camera height"),
    ("gaze.npz", _edit_npz("pixel", lambda a: a + 40.0), "pixel differs"),
    ("motion.npz", _edit_npz("timestamps_ns", lambda a: a[::-1].copy()), "timestamps_ns"),
])
def test_validate_reports_a_broken_member_with_a_clear_message(good, tmp_path, member, edit, expect):
    bad = _tamper(good, tmp_path / "bad", member, edit)
    rep = validate_dataset(bad)
    assert not rep.ok
    msgs = [f"{e['member']}: {e['message']}" for e in rep.errors]
    assert any(e["member"] == member and expect in e["message"] for e in rep.errors), msgs
    assert all(e["key"] == rep.errors[0]["key"] for e in rep.errors)  # only the tampered sample


def test_view_draws_an_episode_png(good, tmp_path):
    out = tmp_path / "ep.png"
    res = CliRunner().invoke(app, ["view", str(good), "--episode", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(app, ["view", str(good), "--episode", "7", "--out", str(out)])
    assert res.exit_code == 2 and "episode 7" in res.output
