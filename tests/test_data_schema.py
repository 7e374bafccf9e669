"""Episode -> shard members per the modality table, and back; readable by webdataset and tarfile."""

import tarfile

import numpy as np
import pytest
import webdataset as wds

from egogen.data import iter_samples
from egogen.data.samples import decode_sample, episode_samples, joint_world_transforms, sample_person_track
from egogen.data.schema import MEMBERS
from egogen.body import JOINT_INDEX, head_camera_pose
from egogen.render.camera import load_rig
from episode_helpers import apartment, episode, write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds")
    return folder, write_dataset(folder)


def test_every_member_and_array_of_the_table_is_written_with_its_dtype(dataset):
    folder, index = dataset
    assert index["num_samples"] == 4 and [s["count"] for s in index["shards"]] == [3, 1]
    for key, members in iter_samples(folder):
        assert set(members) == set(MEMBERS)
        s = decode_sample(members)
        T = s["meta.json"]["num_frames"]
        assert T == 120
        for name, m in MEMBERS.items():
            for a in m.arrays:
                arr = s[name][a.name]
                assert (arr.dtype.kind == "U") if a.dtype == "str" else arr.dtype == np.dtype(a.dtype), (name, a.name)
                assert len(arr.shape) == len(a.shape)
                if a.shape and a.shape[0] == "T":
                    assert arr.shape[0] == T
        assert s["others.npz"]["transl"].shape == (1, T, 3)
        assert str(s["camera.npz"]["model"]) == "fisheye"


def test_shards_round_trip_through_webdataset_and_plain_tarfile(dataset):
    folder, index = dataset
    ep = episode(10, 2, 0, 4.0)
    urls = [str(folder / s["name"]) for s in index["shards"]]
    rows = list(wds.WebDataset(urls, shardshuffle=False))
    assert [r["__key__"] for r in rows] == [k for s in index["shards"] for k in s["keys"]]
    s = decode_sample(rows[1])  # episode 0, wearer 1
    p = ep.people[1]
    assert np.array_equal(s["motion.npz"]["body_pose"], p.body_pose)
    assert np.array_equal(s["camera.npz"]["T_world_camera"], p.T_world_camera)
    assert np.array_equal(s["others.npz"]["transl"][0], ep.people[0].transl)
    # plain tarfile sees <key>.<member> entries with the same bytes
    with tarfile.open(urls[0]) as tar:
        names = tar.getnames()
        data = tar.extractfile(f"{rows[0]['__key__']}.gaze.npz").read()
    assert f"{rows[0]['__key__']}.motion.npz" in names and data == rows[0]["gaze.npz"]
    track = sample_person_track(s)
    track.check()
    assert np.array_equal(track.joints, p.joints) and [g.label for g in track.goals] == [g.label for g in p.goals]


def test_same_episode_gives_the_same_bytes():
    ep = episode(10, 2, 0, 4.0)
    a = episode_samples(ep, apartment())
    b = episode_samples(ep, apartment())
    assert [k for k, _ in a] == [ep.key(0), ep.key(1)]
    assert all(ma == mb for (_, ma), (_, mb) in zip(a, b))


def test_three_point_sensors_are_the_head_and_wrist_joint_frames():
    ep = episode(10, 2, 0, 4.0)
    p = ep.people[0]
    jt = joint_world_transforms(p.global_orient, p.body_pose, p.joints)
    assert np.allclose(jt["left_wrist"][:, :3, 3], p.joints[:, JOINT_INDEX["left_wrist"]])
    # the head frame times the fixed head->camera rotation is the camera's rotation
    cam = head_camera_pose(p.joints, p.global_orient, p.body_pose, load_rig("aria").mount_offset_m)
    assert np.allclose(jt["head"][:, :3, :3] @ np.diag([-1.0, -1, 1]), cam[:, :3, :3], atol=1e-6)
    assert np.allclose(cam, p.T_world_camera, atol=1e-5)
