"""Retargeting CMU clips onto an SMPL-X-like skeleton."""

from __future__ import annotations

import numpy as np
import pytest
from motion_helpers import PARENTS_NP, smplx_like_rest

from egogen.body.kinematics import smplx_fk, smplx_local_rotations
from egogen.motion.mocap import Y_UP_TO_Z_UP, load_bvh
from egogen.motion.retarget import retarget


@pytest.fixture(scope="module")
def walk(shared_dir):
    clip = load_bvh(shared_dir / "mocap/cmu/16_27.bvh")  # walk with a 90-degree left turn
    rest = smplx_like_rest()
    return clip, rest, retarget(clip.joints, rest, PARENTS_NP, clip.fps, rotations=clip.rotations)


def test_retarget_keeps_bone_directions_of_the_scaled_source(walk):
    clip, rest, res = walk
    r = res.report
    # limb and spine chains follow the source exactly (bound: 1 mm, 0.5 deg)
    assert r["mpjpe_chain_mm"] < 1.0 and r["max_joint_err_chain_mm"] < 1.0
    assert r["chain_bone_dir_err_deg_max"] < 0.5
    # whole body vs uniformly scaled CMU skeleton: differs by the rigs' proportions only
    assert r["mpjpe_uniform_scaled_mm"] < 150


def test_retarget_parameters_reproduce_the_returned_joints(walk):
    clip, rest, res = walk
    local = smplx_local_rotations(res.global_orient, res.body_pose,
                                  res.left_hand_pose, res.right_hand_pose)
    joints, _ = smplx_fk(local, res.transl, rest, PARENTS_NP)
    np.testing.assert_allclose(joints, res.joints, atol=1e-6)
    assert res.body_pose.shape == (clip.num_frames, 63)


def test_retargeted_feet_stay_on_the_floor_without_penetration(walk):
    _, rest, res = walk
    r = res.report
    assert r["penetration_mm"] < 0.5
    assert r["float_mm"] < 30  # mean lowest sole point while in contact
    assert r["contact_fraction"] > 0.9  # walking: some foot down nearly always
    assert r["skating_cm_s"] < 1.2 * r["source_skating_cm_s"] + 5  # no skating added


def test_retarget_onto_the_cmu_tpose_skeleton_itself_is_near_exact(shared_dir):
    clip = load_bvh(shared_dir / "mocap/cmu/35_01.bvh")
    # rest skeleton = the clip's own T-pose frame, back in SMPL-X canonical (Y up)
    ref = clip.reference_joints.copy()
    rest = smplx_like_rest()
    body = ~np.isnan(ref).any(1)
    rest[body] = (ref[body] - ref[0]) @ Y_UP_TO_Z_UP  # world -> canonical
    res = retarget(clip.joints[:120], rest, PARENTS_NP, clip.fps, rotations=clip.rotations[:120])
    assert abs(res.scale - 1.0) < 1e-6
    # same proportions: uniform-scaled error is tiny except where spine3/collars are lerped
    assert res.report["mpjpe_uniform_scaled_mm"] < 25


def test_retarget_rejects_missing_body_joints():
    j = np.full((3, 55, 3), np.nan)
    with pytest.raises(ValueError, match="body joints without source"):
        retarget(j, smplx_like_rest(), PARENTS_NP, 30.0)
