"""Shards: readable by webdataset and tarfile, byte-reproducible, atomic, resumable."""

import errno
import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
import webdataset as wds

from egogen.data import ShardError, ShardWriter, iter_samples, read_index
from egogen.npz import npz_bytes


def _sample(i: int) -> dict[str, bytes]:
    rng = np.random.default_rng(i)
    return {"motion.npz": npz_bytes({"transl": rng.normal(size=(30, 3)).astype(np.float32)}),
            "text.json": json.dumps({"caption": f"walk number {i}"}).encode()}


def _write(folder, n, per_shard=2, **kw):
    with ShardWriter(folder, samples_per_shard=per_shard, config={"seed": 7}, **kw) as w:
        for i in range(n):
            if f"apartment-{i:06d}" not in w.completed_keys():
                w.add(f"apartment-{i:06d}", _sample(i))
    return read_index(folder)


def test_samples_round_trip_through_tarfile_and_webdataset(tmp_path):
    index = _write(tmp_path, 5)
    assert [s["count"] for s in index["shards"]] == [2, 2, 1] and index["num_samples"] == 5
    for s in index["shards"]:
        assert hashlib.sha256((tmp_path / s["name"]).read_bytes()).hexdigest() == s["sha256"]
    got = dict(iter_samples(tmp_path))
    assert list(got) == [f"apartment-{i:06d}" for i in range(5)]
    assert got["apartment-000003"] == _sample(3)
    urls = [str(tmp_path / s["name"]) for s in index["shards"]]
    rows = list(wds.WebDataset(urls, shardshuffle=False))
    assert [r["__key__"] for r in rows] == list(got)
    z = np.load(io.BytesIO(rows[4]["motion.npz"]))
    assert z["transl"].shape == (30, 3)
    assert json.loads(rows[1]["text.json"])["caption"] == "walk number 1"


def test_same_samples_give_byte_identical_shards(tmp_path):
    a, b = _write(tmp_path / "a", 5), _write(tmp_path / "b", 5)
    assert [s["sha256"] for s in a["shards"]] == [s["sha256"] for s in b["shards"]]
    assert (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path):
    full = _write(tmp_path / "full", 7, per_shard=3)
    w = ShardWriter(tmp_path / "killed", samples_per_shard=3, config={"seed": 7})
    for i in range(5):  # killed after 5 samples: shard 0 complete, 2 samples pending
        w.add(f"apartment-{i:06d}", _sample(i))
    (tmp_path / "killed" / ".shard-000001.tar.tmp").write_bytes(b"half a shard")
    del w
    assert [p.name for p in sorted((tmp_path / "killed").glob("shard-*"))] == ["shard-000000.tar"]
    with pytest.raises(ShardError, match="--resume"):
        ShardWriter(tmp_path / "killed", samples_per_shard=3, config={"seed": 7})
    with pytest.raises(ShardError, match="another configuration"):
        ShardWriter(tmp_path / "killed", samples_per_shard=3, config={"seed": 8}, resume=True)
    resumed = _write(tmp_path / "killed", 7, per_shard=3, resume=True)
    assert resumed == full
    assert not list((tmp_path / "killed").glob(".*.tmp*"))


def test_full_disk_keeps_completed_shards_and_says_how_to_continue(tmp_path, monkeypatch):
    w = ShardWriter(tmp_path, samples_per_shard=2, config={})
    w.add("a-0", _sample(0))
    w.add("a-1", _sample(1))  # shard 0 complete
    before = (tmp_path / "shard-000000.tar").read_bytes()
    real_open = open

    def full_disk(path, mode="r", *a, **k):
        if "w" in mode and "shard-000001" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr("builtins.open", full_disk)
    w.add("a-2", _sample(2))
    with pytest.raises(ShardError, match="disk is full.*--resume"):
        w.add("a-3", _sample(3))
    monkeypatch.undo()
    assert (tmp_path / "shard-000000.tar").read_bytes() == before
    assert read_index(tmp_path)["num_samples"] == 2
    assert not list(tmp_path.glob(".*.tmp*")) and not (tmp_path / "shard-000001.tar").exists()


def test_unwritable_output_and_bad_keys_are_clear_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ShardError, match="cannot create output folder"):
        ShardWriter(blocker / "out")
    w = ShardWriter(tmp_path / "ok")
    with pytest.raises(ValueError, match="letters, digits"):
        w.add("apartment.0", _sample(0))
    w.add("k", _sample(0))
    with pytest.raises(ValueError, match="already written"):
        w.add("k", _sample(1))


def test_corrupt_shard_is_detected(tmp_path):
    _write(tmp_path, 3)
    p = tmp_path / "shard-000000.tar"
    p.write_bytes(p.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ShardError, match="corrupt"):
        list(iter_samples(tmp_path))
    assert tarfile.is_tarfile(tmp_path / "shard-000001.tar")


def test_extend_last_reopens_a_short_last_shard_so_a_stopped_run_ends_as_one_run(tmp_path):
    one = _write(tmp_path / "one", 5, per_shard=3)
    _write(tmp_path / "two", 4, per_shard=3)  # stopped early: shards [3, 1]
    with pytest.raises(ShardError):  # another configuration is still refused
        ShardWriter(tmp_path / "two", 3, config={"seed": 8}, resume=True, extend_last=True)
    w = ShardWriter(tmp_path / "two", 3, config={"seed": 7}, resume=True, extend_last=True)
    assert w.completed_keys() == {f"apartment-{i:06d}" for i in range(4)}
    w.close()  # nothing added: the reopened shard is written back unchanged
    assert read_index(tmp_path / "two")["shards"][-1]["count"] == 1
    two = _write(tmp_path / "two", 5, per_shard=3, resume=True, extend_last=True)
    assert two["shards"] == one["shards"]
    assert (tmp_path / "one" / "shard-000001.tar").read_bytes() == (tmp_path / "two" / "shard-000001.tar").read_bytes()
