"""BVH reading and loading of the shared CMU clips."""

from __future__ import annotations

import numpy as np
import pytest

from egogen.motion.bvh import BvhFormatError, forward_kinematics, read_bvh
from egogen.motion.mocap import load_bvh
from egogen.motion.skeletons import SCHEMES, UnknownSkeletonError, cmu_true_fps, detect_scheme


def test_cmu_motionbuilder_clip_parses_with_header_frame_count_and_120hz(shared_dir):
    raw = read_bvh(shared_dir / "mocap/cmu/07_01.bvh")
    assert raw.num_frames == 317 and raw.motion.shape == (317, 96)
    assert len(raw.names) == 31
    clip = load_bvh(shared_dir / "mocap/cmu/07_01.bvh")
    assert clip.scheme == "cmu_mb" and clip.fps == 120.0
    assert clip.num_frames == 316  # T-pose reference frame dropped
    # walking speed and hip height in metres prove units and axes: hips ~0.9-1 m up (Z up)
    assert 0.85 < np.nanmean(clip.joints[:, 0, 2]) < 1.05
    path = np.linalg.norm(np.diff(clip.joints[:, 0, :2], axis=0), axis=1).sum()
    assert 3.3 < path < 3.9  # README: 3.59 m


def test_cmu_3dsmax_and_character_creator_clips_load_at_their_rates(shared_dir):
    b = load_bvh(shared_dir / "mocap/cmu/131_01.bvh")
    assert b.scheme == "cmu_max" and b.num_frames == 994 and b.fps == 120.0
    cc = load_bvh(shared_dir / "mocap/cmu_60fps/002_01.bvh")  # has RL_BoneRoot
    assert cc.scheme == "cc" and cc.fps == 60.0 and cc.num_frames == 170
    cc2 = load_bvh(shared_dir / "mocap/cmu_60fps/005_01.bvh")  # no RL_BoneRoot
    assert cc2.num_frames == 298
    for c in (b, cc, cc2):
        head_above_feet = c.joints[:, 15, 2] - c.joints[:, [7, 8], 2].min(1)
        assert 1.2 < np.median(head_above_feet) < 1.8


def test_cmu_subjects_recorded_at_60fps_are_not_played_at_120():
    assert cmu_true_fps("35_01", 120.0) == 120.0
    assert cmu_true_fps("61_05", 120.0) == 60.0
    assert cmu_true_fps("136_19", 120.0) == 60.0 and cmu_true_fps("136_18", 120.0) == 120.0


def _write(tmp_path, text):
    p = tmp_path / "x.bvh"
    p.write_text(text)
    return p


_SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0 1 0 0 0 0 0 0 0
0 1 0 90 0 0 0 0 0
"""


def test_forward_kinematics_rotates_children_about_parent(tmp_path):
    clip = read_bvh(_write(tmp_path, _SMALL))
    pos, _ = forward_kinematics(clip)
    np.testing.assert_allclose(pos[0, 1], [1, 1, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, 1], [0, 2, 0], atol=1e-9)  # 90 deg about Z


def test_truncated_bvh_names_the_problem(tmp_path):
    with pytest.raises(BvhFormatError, match="truncated.*Frames: 2.*1 frame"):
        read_bvh(_write(tmp_path, _SMALL.rsplit("0 1 0 90", 1)[0]))


def test_corrupt_bvh_lines_are_reported(tmp_path):
    with pytest.raises(BvhFormatError, match="frame 1 has 8 values"):
        read_bvh(_write(tmp_path, _SMALL.replace("0 1 0 90 0 0 0 0 0", "0 1 0 90 0 0 0 0")))
    with pytest.raises(BvhFormatError, match="MOTION section missing"):
        read_bvh(_write(tmp_path, _SMALL.split("MOTION")[0]))
    with pytest.raises(BvhFormatError, match="HIERARCHY"):
        read_bvh(_write(tmp_path, "hello\n"))


def test_missing_file_and_unknown_naming_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")
    with pytest.raises(UnknownSkeletonError, match="SCHEMES"):
        detect_scheme(("Hips", "Arm"))
    with pytest.raises(UnknownSkeletonError):
        load_bvh(_write(tmp_path, _SMALL))


def test_every_scheme_maps_all_body_joints_and_both_cmu_namings_agree(shared_dir):
    for s in SCHEMES.values():
        assert len([k for k in s.joint_map if k in (
            "pelvis", "left_wrist", "right_wrist", "left_foot", "right_foot", "head")]) == 6
    a = SCHEMES["cmu_mb"].joint_map
    b = SCHEMES["cmu_max"].joint_map
    assert a.keys() == b.keys()
