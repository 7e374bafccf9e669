"""Tiny end-to-end training on two real CMU clips: dataset, loss goes down, determinism,
resume, and the train-motion / eval-motion / motion show commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from egogen.body import load_body_model
from egogen.motion.checkpoint import load_motion_models
from egogen.motion.cvae import CVAEConfig
from egogen.motion.dataset import DatasetConfig, MotionDataset, build_dataset, load_or_build
from egogen.motion.markers import MarkerBody
from egogen.motion.regressor import RegressorConfig
from egogen.motion.train import TrainConfig, train_motion
from egogen.rotations import aa_to_mat

CLIPS = ("cmu/16_27.bvh", "cmu_60fps/002_01.bvh")


@pytest.fixture(scope="module")
def two_clips(shared_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    for c in CLIPS:
        os.symlink(shared_dir / "mocap" / c, d / Path(c).name)
    return d


@pytest.fixture(scope="module")
def body():
    return load_body_model(num_betas=16)


@pytest.fixture(scope="module")
def tiny(two_clips, body):
    cfg = DatasetConfig(num_shapes=1, beta_std=0.5, mirror=True, held_out_fraction=0.5)
    return build_dataset([two_clips], body, cfg)


def _tiny_cfg(**kw):
    kw = {"cvae_epochs": 6, "rollout_epochs": 0, "prior_epochs": 0, "regressor_epochs": 2, **kw}
    return TrainConfig(cvae=CVAEConfig(hidden=32, latent=8), regressor=RegressorConfig(hidden=32, blocks=1),
                       cvae_lr=3e-3, checkpoint_every=2, **kw)


class _Stop(Exception):
    pass


def _killed(tiny, body, out, cfg, stage, epoch):
    """Run ``cfg`` into ``out`` and kill it when ``stage`` finishes ``epoch`` (before that
    epoch's checkpoint)."""
    def stop(st, ep, total, m):
        if st == stage and ep == epoch:
            raise _Stop

    with pytest.raises(_Stop):
        train_motion(tiny, body, out, cfg, on_epoch=stop)


def test_dataset_markers_feet_split_and_augmentation(tiny, body):
    ds = tiny
    assert len(ds.seq_clip) == 2 * 2 * 2  # clips x shapes x (original, mirrored)
    assert ds.held_out and set(ds.held_out) < {"16_27", "002_01"}
    assert not set(ds.seq_clip[s] for s in ds.sequences("train")) & set(ds.held_out)
    # 30 Hz: 16_27 is 243 motion frames at 120 Hz -> 61 frames
    s0 = ds.seq_clip.index("16_27")
    assert ds.seq_start[s0 + 1] - ds.seq_start[s0] == 61
    # markers are the body's markers for the stored parameters and betas
    mb = MarkerBody(body)
    s = 3  # sequences per clip: (default shape, sampled shape) x (original, mirrored)
    f = np.arange(ds.seq_start[s], ds.seq_start[s] + 5)
    aa = np.concatenate([ds.global_orient[f][:, None], ds.body_pose[f].reshape(5, 21, 3)], axis=1)
    R = torch.as_tensor(aa_to_mat(aa.astype(np.float64)), dtype=torch.float32)
    m, _ = mb(torch.as_tensor(ds.betas[[s] * 5]), R, torch.as_tensor(ds.transl[f]))
    np.testing.assert_allclose(m.numpy(), ds.markers[f], atol=1e-4)
    # betas augmentation changes the body; the sole stays on the floor for every sequence
    assert np.abs(ds.betas[2]).sum() > 0 and np.abs(ds.betas[0]).sum() == 0
    for s in range(len(ds.seq_clip)):
        z = ds.markers[ds.seq_start[s]:ds.seq_start[s + 1], :, 2]
        assert -0.001 < z.min() < 0.03
    # mirrored copy: a left turn becomes a right turn
    def turn(s):
        j = ds.joints[ds.seq_start[s]:ds.seq_start[s + 1]]
        fwd = np.cross([0, 0, 1.0], j[:, 2] - j[:, 1])
        h = np.unwrap(np.arctan2(fwd[:, 1], fwd[:, 0]))
        return h[-1] - h[0]
    assert turn(s0) > 0.7 and turn(s0 + 1) < -0.7 and ds.seq_mirror[s0 + 1]


def test_canonical_windows_start_at_the_origin_facing_forward(tiny):
    fr, sq = tiny.windows("train")
    w = tiny.canonical_windows(fr, sq)
    j = w["joints"]
    assert w["markers"].shape == (len(fr), 15, 67, 3)
    torch.testing.assert_close(j[:, 0, 0, :2], torch.zeros(len(fr), 2), atol=1e-5, rtol=0)
    assert (j[:, 0, 2, 0] > j[:, 0, 1, 0]).all()  # right hip at +x


def test_dataset_cache_round_trips(two_clips, body, tmp_path, monkeypatch):
    monkeypatch.setenv("EGOGEN_CACHE", str(tmp_path))
    cfg = DatasetConfig(num_shapes=0, mirror=False)
    a, p = load_or_build([two_clips], body, cfg)
    assert p.is_file() and str(p).startswith(str(tmp_path))
    b, p2 = load_or_build([two_clips], body, cfg)
    assert p2 == p
    np.testing.assert_array_equal(a.markers, b.markers)
    assert b.held_out == a.held_out and isinstance(MotionDataset.load(p), MotionDataset)


def test_tiny_training_lowers_the_loss_and_is_deterministic(tiny, body, tmp_path):
    torch.set_num_threads(1)
    s1 = train_motion(tiny, body, tmp_path / "a", _tiny_cfg(seed=3))
    log = [json.loads(x) for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    cv = [r["loss"] for r in log if r["stage"] == "cvae"]
    assert cv[-1] < 0.7 * cv[0]
    rg = [r["marker_err_mm"] for r in log if r["stage"] == "regressor"]
    assert rg[-1] < rg[0]
    models = load_motion_models(tmp_path / "a")
    assert models.regressor is not None and models.meta["seed_markers"].shape[1:] == (2, 67, 3)
    s2 = train_motion(tiny, body, tmp_path / "b", _tiny_cfg(seed=3))
    assert s1["cvae"]["loss"] == s2["cvae"]["loss"]


def test_resume_continues_the_same_run(tiny, body, tmp_path):
    torch.set_num_threads(1)
    full = train_motion(tiny, body, tmp_path / "full", _tiny_cfg(seed=1))
    # an interrupted run: killed as C-VAE epoch 4 ends (last checkpoint at 2), then resumed
    cfg = _tiny_cfg(seed=1)
    _killed(tiny, body, tmp_path / "part", cfg, "cvae", 4)
    resumed = train_motion(tiny, body, tmp_path / "part", cfg, resume=True)
    assert resumed["cvae"]["loss"] == pytest.approx(full["cvae"]["loss"], rel=1e-6)
    with pytest.raises(FileNotFoundError):
        train_motion(tiny, body, tmp_path / "none", cfg, resume=True)


def test_cli_train_eval_show(two_clips, tmp_path, monkeypatch):
    from egogen.cli import app

    monkeypatch.setenv("EGOGEN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train-motion", "--bvh-dir", str(two_clips), "--out", str(out),
                                 "--epochs", "1", "--rollout-epochs", "1", "--prior-epochs", "1",
                                 "--regressor-epochs", "1"])
    assert r.exit_code == 0, r.output
    assert (out / "cvae.pt").is_file() and (out / "regressor.pt").is_file()
    r = CliRunner().invoke(app, ["eval-motion", "--checkpoint", str(out), "--bvh-dir", str(two_clips),
                                 "--primitives", "2", "--seeds", "2", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "eval.json").read_text())
    for k in ("reconstruction_mm", "regressor_mm", "foot_skating_cm_s", "contact_score",
              "pelvis_height_std_cm", "upright_fraction", "diversity_mm"):
        assert np.isfinite(res[k]), k
    r = CliRunner().invoke(app, ["motion", "show", "--checkpoint", str(out), "--out",
                                 str(tmp_path / "r.gif"), "--seconds", "0.6"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.gif").read_bytes()[:3] == b"GIF"
    r = CliRunner().invoke(app, ["eval-motion", "--checkpoint", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "train-motion" in r.output


def test_amass_npz_clips_enter_the_dataset_on_the_floor(tmp_path, body):
    rng = np.random.default_rng(0)
    for k in range(2):
        T = 90  # 1.5 s at 60 Hz
        poses = np.zeros((T, 165))
        poses[:, :3] = [np.pi / 2, 0, 0]  # standing (Y-up body -> Z-up world)
        poses[:, 3:66] = rng.normal(0, 0.05, (1, 63))
        trans = np.stack([np.linspace(0, 1, T), np.zeros(T), np.full(T, 0.5 + k)], 1)
        np.savez(tmp_path / f"walk{k}.npz", poses=poses, trans=trans, betas=np.zeros(16),
                 gender="neutral", mocap_frame_rate=60.0)
    ds = build_dataset([], body, DatasetConfig(num_shapes=0, mirror=False), amass_dirs=[tmp_path])
    assert sorted(ds.clips) == ["walk0", "walk1"] and len(ds.held_out) == 1
    assert ds.seq_start[1] == 45  # 30 Hz
    for s in range(2):
        z = ds.markers[ds.seq_start[s]:ds.seq_start[s + 1], :, 2]
        assert abs(z.min()) < 1e-6 and z.max() > 1.3  # floor at the lowest marker, standing


def test_regressor_extra_markers_rollouts_and_rest_pose(tiny, body):
    """The regressor's extra data: canonical C-VAE roll-out windows and standing rest poses."""
    from egogen.motion.cvae import MotionCVAE
    from egogen.motion.rollout import MarkerJoints
    from egogen.motion.train import regressor_extra_markers

    torch.manual_seed(0)
    cvae = MotionCVAE(CVAEConfig(hidden=32, latent=8))
    mj = MarkerJoints.fit(tiny.markers[::3], tiny.joints[::3])
    mb = MarkerBody(body)
    cfg = _tiny_cfg(regressor_rollout_primitives=2, regressor_rollout_stride=40, regressor_rest_poses=3)
    ex = regressor_extra_markers(tiny, cvae, mj, mb, cfg)
    n_seeds = len(tiny.windows("train", stride=40, length=2)[0])
    assert ex["markers"].shape == (n_seeds * 2 * 15 + 3, 67, 3) and len(ex["betas"]) == len(ex["markers"])
    rest = ex["markers"][-3:]
    assert torch.allclose(rest[..., 2].min(dim=1).values, torch.full((3,), 0.02), atol=1e-5)
    pelvis = mj(rest)[:, 0]
    assert pelvis[:, :2].abs().max() < 1e-4  # canonical: pelvis above the origin
    # the first frame of every roll-out window is canonical too (pelvis over the origin)
    first = ex["markers"][: n_seeds * 30].reshape(-1, 15, 67, 3)[:, 0]
    assert mj(first)[:, 0, :2].abs().max() < 1e-4
    again = regressor_extra_markers(tiny, cvae, mj, mb, cfg)
    assert torch.equal(again["markers"], ex["markers"])  # seeded latent draws
    off = regressor_extra_markers(tiny, cvae, mj, mb, _tiny_cfg(regressor_rollout_primitives=0,
                                                                regressor_rest_poses=0))
    assert off["markers"].shape == (0, 67, 3)


def test_regressor_loss_targets_only_rows_that_have_one(body):
    from egogen.motion.regressor import MarkerRegressor
    from egogen.motion.train import regressor_loss

    torch.manual_seed(0)
    reg = MarkerRegressor(RegressorConfig(hidden=32, blocks=1))
    mb = MarkerBody(body)
    mk, bt = torch.randn(4, 67, 3) * 0.1, torch.zeros(4, 16)
    x = torch.zeros(4, 135)
    far = x.clone()
    far[2:] = 100.0  # absurd targets on rows 2, 3
    has = torch.tensor([True, True, False, False])
    a, _ = regressor_loss(reg, mb, mk, bt, x, 0.1, has)
    b, _ = regressor_loss(reg, mb, mk, bt, far, 0.1, has)
    c, _ = regressor_loss(reg, mb, mk, bt, far, 0.1)
    assert a == b and c > b + 10


def test_regressor_only_run_needs_a_trained_cvae(tiny, body, tmp_path):
    cfg = _tiny_cfg(stages=("regressor",))
    with pytest.raises(FileNotFoundError, match="cvae.pt"):
        train_motion(tiny, body, tmp_path / "r", cfg)


def test_prior_stage_fine_tunes_the_cvae_in_out_and_lowers_the_prior_loss(tiny, body, tmp_path):
    """--stages prior starts from OUT/cvae.pt; the prior roll-outs' contact + posture loss falls."""
    import shutil

    from egogen.motion.physical import FOOT_MARKERS
    from egogen.motion.train import prior_chain_loss

    torch.set_num_threads(1)
    train_motion(tiny, body, tmp_path / "base", _tiny_cfg(seed=2, stages=("cvae",)))
    cfg = _tiny_cfg(seed=2, stages=("prior",), prior_epochs=4, rollout_primitives=2, rollout_lr=3e-3,
                    prior_weight=1.0, prior_primitives=3)
    with pytest.raises(FileNotFoundError, match="cvae.pt"):
        train_motion(tiny, body, tmp_path / "empty", cfg)
    (tmp_path / "ft").mkdir()
    shutil.copy(tmp_path / "base" / "cvae.pt", tmp_path / "ft" / "cvae.pt")
    summary = train_motion(tiny, body, tmp_path / "ft", cfg)
    assert "prior_contact" in summary["prior"] and "cvae" not in summary and "rollout" not in summary

    feet = [body.markers.names.index(n) for n in FOOT_MARKERS]
    fr, _ = tiny.windows("train", stride=13, length=2)
    seeds = torch.as_tensor(tiny.markers[fr])

    def prior_loss(folder):
        m = load_motion_models(folder)
        z = torch.randn(len(seeds), 3, m.cvae.cfg.latent, generator=torch.Generator().manual_seed(9))
        with torch.no_grad():
            c, p = prior_chain_loss(m.cvae, m.marker_joints, seeds, z, feet)
        return float(c + p), m.cvae.state_dict()

    before, w0 = prior_loss(tmp_path / "base")
    after, w1 = prior_loss(tmp_path / "ft")
    assert after < 0.8 * before
    # fine-tuned, not retrained: the weights moved little relative to their size
    diff = sum(float((w1[k] - w0[k]).norm()) for k in w0)
    size = sum(float(w0[k].norm()) for k in w0)
    assert 0 < diff < 0.5 * size


def test_resume_inside_the_prior_stage_repeats_its_random_roll_outs(tiny, body, tmp_path):
    torch.set_num_threads(1)
    cfg = _tiny_cfg(seed=4, stages=("cvae", "rollout", "prior"), cvae_epochs=2, rollout_epochs=2, prior_epochs=4,
                    rollout_primitives=2, prior_primitives=2)
    full = train_motion(tiny, body, tmp_path / "full", cfg)
    _killed(tiny, body, tmp_path / "part", cfg, "prior", 3)  # after the checkpoint at epoch 2
    st = torch.load(tmp_path / "part" / "train_state.pt", weights_only=False)
    assert st["stage_name"] == "prior" and st["epoch"] == 2
    resumed = train_motion(tiny, body, tmp_path / "part", cfg, resume=True)
    assert resumed["prior"]["prior_contact"] == full["prior"]["prior_contact"]
    assert resumed["prior"]["loss"] == full["prior"]["loss"]


def test_a_train_state_of_the_three_stage_release_resumes_in_the_right_stage(tiny, body, tmp_path):
    """States saved before the prior stage existed store the stage as an index into
    (cvae, rollout, regressor); index 2 must resume the regressor, not the prior stage."""
    torch.set_num_threads(1)
    cfg = _tiny_cfg(seed=5, stages=("cvae", "regressor"), cvae_epochs=2, regressor_epochs=4)
    full = train_motion(tiny, body, tmp_path / "full", cfg)
    _killed(tiny, body, tmp_path / "old", cfg, "regressor", 3)  # after the checkpoint at epoch 2
    p = tmp_path / "old" / "train_state.pt"
    st = torch.load(p, weights_only=False)
    del st["stage_name"]
    st["stage"] = 2  # the old index of the regressor stage
    torch.save(st, p)
    resumed = train_motion(tiny, body, tmp_path / "old", cfg, resume=True)
    assert "prior" not in resumed
    assert resumed["regressor"]["marker_err_mm"] == full["regressor"]["marker_err_mm"]


def test_fine_tuning_a_cvae_of_other_sizes_is_refused_with_the_file_named(tiny, body, tmp_path):
    import shutil

    torch.set_num_threads(1)
    train_motion(tiny, body, tmp_path / "base", _tiny_cfg(seed=2, stages=("cvae",), cvae_epochs=1))
    (tmp_path / "ft").mkdir()
    shutil.copy(tmp_path / "base" / "cvae.pt", tmp_path / "ft" / "cvae.pt")
    cfg = TrainConfig(cvae=CVAEConfig(hidden=32, latent=4), regressor=RegressorConfig(hidden=32, blocks=1),
                      stages=("prior",), prior_epochs=1, rollout_primitives=2, prior_primitives=2)
    with pytest.raises(ValueError, match="cvae.pt has C-VAE sizes"):
        train_motion(tiny, body, tmp_path / "ft", cfg)
