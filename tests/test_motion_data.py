"""AMASS reader, 30 Hz resampling, mirroring, split and canonical primitives."""

from __future__ import annotations

import numpy as np
import pytest
from motion_helpers import PARENTS_NP, smplx_like_rest
from scipy.spatial.transform import Rotation

from egogen.motion.amass import read_amass
from egogen.motion.augment import MIRROR_INDEX, mirror_joints, mirror_smplx, split_clips
from egogen.motion.canonical import (canonical_frame, canonicalize_smplx, from_canonical,
                                     primitive_windows, to_canonical)
from egogen.body.kinematics import smplx_fk, smplx_local_rotations
from egogen.motion.mocap import load_bvh
from egogen.motion.resample import resample_positions, resample_rotvecs
from egogen.motion.retarget import retarget

from egogen.body.skeleton import JOINT_INDEX


@pytest.fixture(scope="module")
def turn(shared_dir):
    clip = load_bvh(shared_dir / "mocap/cmu/16_27.bvh")  # left turn, 120 Hz
    res = retarget(clip.joints, smplx_like_rest(), PARENTS_NP, clip.fps, rotations=clip.rotations)
    return clip, res


@pytest.mark.parametrize("width", [156, 165])
def test_amass_npz_gives_smplx_arrays(tmp_path, width):
    rng = np.random.default_rng(0)
    T = 7
    poses = rng.normal(size=(T, width))
    fps_key = "mocap_framerate" if width == 156 else "mocap_frame_rate"
    np.savez(tmp_path / "seq.npz", poses=poses, trans=rng.normal(size=(T, 3)),
             betas=np.zeros(16), gender="female", **{fps_key: 120.0})
    m = read_amass(tmp_path / "seq.npz")
    assert m.fps == 120.0 and m.gender == "female" and m.num_frames == T
    np.testing.assert_array_equal(m.global_orient, poses[:, :3])
    np.testing.assert_array_equal(m.body_pose, poses[:, 3:66])
    np.testing.assert_array_equal(m.right_hand_pose, poses[:, -45:])
    if width == 165:
        np.testing.assert_array_equal(m.jaw_pose, poses[:, 66:69])


def test_amass_reader_names_bad_files(tmp_path):
    np.savez(tmp_path / "bad.npz", poses=np.zeros((3, 72)), trans=np.zeros((3, 3)), mocap_framerate=60)
    with pytest.raises(ValueError, match="156.*165"):
        read_amass(tmp_path / "bad.npz")
    np.savez(tmp_path / "shape.npz", betas=np.zeros(16))
    with pytest.raises(ValueError, match="'poses' missing"):
        read_amass(tmp_path / "shape.npz")
    with pytest.raises(FileNotFoundError):
        read_amass(tmp_path / "none.npz")


def test_resampling_to_30hz_respects_the_true_rate(turn):
    clip, res = turn
    pos = resample_positions(res.joints, clip.fps)
    assert pos.shape[0] == int(np.floor(clip.duration * 30 + 1e-9)) + 1
    np.testing.assert_allclose(pos[1], res.joints[4])  # 120 Hz -> every 4th frame
    rv = resample_rotvecs(res.body_pose.reshape(-1, 21, 3), clip.fps)
    ang = (Rotation.from_rotvec(rv[2].reshape(-1, 3)).inv()
           * Rotation.from_rotvec(res.body_pose[8].reshape(-1, 3))).magnitude()
    assert ang.max() < 1e-9
    # a 60 Hz clip of the same duration gives the same number of 30 Hz frames
    assert resample_positions(np.zeros((61, 2)), 60.0).shape[0] == resample_positions(np.zeros((121, 2)), 120.0).shape[0] == 31


def test_slerp_takes_the_short_way_between_samples():
    rv = np.array([[0, 0, np.radians(170)], [0, 0, np.radians(-170)]])  # 20 deg apart via 180
    mid = resample_rotvecs(rv, 1.0, 2.0)[1]
    assert abs(abs(mid[2]) - np.pi) < 1e-6


def test_mirroring_maps_left_to_right_and_turns_a_left_turn_right(turn):
    clip, res = turn
    m = mirror_joints(res.joints)
    L, R = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    np.testing.assert_allclose(m[:, R, 1:], res.joints[:, L, 1:])
    np.testing.assert_allclose(m[:, R, 0], -res.joints[:, L, 0])
    assert (MIRROR_INDEX[MIRROR_INDEX] == np.arange(55)).all()

    def heading(j):
        fwd = np.cross([0, 0, 1.0], j[:, 2] - j[:, 1])
        return np.unwrap(np.arctan2(fwd[:, 1], fwd[:, 0]))
    h0, h1 = heading(res.joints), heading(m)
    assert h0[-1] - h0[0] > np.radians(45)  # left turn (counter-clockwise)
    assert h1[-1] - h1[0] < -np.radians(45)  # mirrored: right turn


def test_mirrored_smplx_parameters_pose_the_mirrored_joints():
    rest = smplx_like_rest()  # left-right symmetric
    rng = np.random.default_rng(1)
    go, bp, tr = rng.normal(0, 0.4, (5, 3)), rng.normal(0, 0.3, (5, 63)), rng.normal(0, 1, (5, 3))
    j, _ = smplx_fk(smplx_local_rotations(go, bp), tr, rest, PARENTS_NP)
    go2, bp2, tr2 = mirror_smplx(go, bp, tr, rest[0])
    j2, _ = smplx_fk(smplx_local_rotations(go2, bp2), tr2, rest, PARENTS_NP)
    np.testing.assert_allclose(j2[:, :22], mirror_joints(j)[:, :22], atol=1e-9)


def test_split_is_by_clip_deterministic_and_disjoint():
    names = [f"{s}_{t:02d}" for s in (7, 16, 35, 69) for t in range(1, 6)]
    tr, ho = split_clips(names, 0.2, seed=3)
    assert len(ho) == 4 and not set(tr) & set(ho) and sorted(tr + ho) == sorted(names)
    assert split_clips(list(reversed(names)), 0.2, seed=3) == (tr, ho)
    assert split_clips(names, 0.2, seed=4) != (tr, ho)
    with pytest.raises(ValueError):
        split_clips(["a", "a"])


def test_canonicalisation_round_trips_and_faces_forward(turn):
    _, res = turn
    j = res.joints
    for idx in primitive_windows(j.shape[0], stride=40):
        w = j[idx]
        R, o = canonical_frame(w[0])
        c = to_canonical(w, R, o)
        np.testing.assert_allclose(from_canonical(c, R, o), w, atol=1e-9)
        # frame 0: pelvis above the origin, hips along x (right hip at +x), height kept
        np.testing.assert_allclose(c[0, 0, :2], 0, atol=1e-9)
        np.testing.assert_allclose(c[0, 0, 2], w[0, 0, 2])
        assert abs(c[0, 2, 1] - c[0, 1, 1]) < 1e-9 and c[0, 2, 0] > c[0, 1, 0]
        # the body walks towards +y in its canonical frame
        assert c[-1, 0, 1] - c[0, 0, 1] > 0.05


def test_canonical_smplx_parameters_pose_the_canonical_joints(turn):
    _, res = turn
    rest = smplx_like_rest()
    R, o = canonical_frame(res.joints[0])
    G = Rotation.from_rotvec(res.global_orient).as_matrix()
    Gc, tc = canonicalize_smplx(G, res.transl, rest[0], R, o)
    local = smplx_local_rotations(res.global_orient, res.body_pose)
    local[:, 0] = Gc
    jc, _ = smplx_fk(local, tc, rest, PARENTS_NP)
    np.testing.assert_allclose(jc[:, :22], to_canonical(res.joints, R, o)[:, :22], atol=1e-9)
    Gb, tb = canonicalize_smplx(Gc, tc, rest[0], R, o, inverse=True)
    np.testing.assert_allclose(Gb, G, atol=1e-12)
    np.testing.assert_allclose(tb, res.transl, atol=1e-12)


def test_primitive_windows_chain_through_two_seed_frames():
    w = primitive_windows(60)
    assert w.shape[1] == 15
    assert (w[1, :2] == w[0, -2:]).all()
    assert primitive_windows(10).shape == (0, 15)
