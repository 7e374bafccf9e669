"""The policy motion source: policy episodes, markers -> SMPL-X, `egogen simulate`."""

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from egogen.body import load_body_model
from egogen.cli import app
from egogen.motion.checkpoint import MotionModels, save_cvae, save_regressor
from egogen.motion.rot6d import mat_to_rot6d
from egogen.rotations import aa_to_mat, kabsch
from egogen.sim.env import EnvConfig, WalkEnv, standing_markers
from egogen.sim.people import posed_joints_and_markers
from egogen.sim.policy_episode import markers_to_smplx, policy_episode
from egogen.sim.scripted import scripted_episode
from sim_helpers import untrained_motion

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Default body, untrained motion models and an untrained PPO on the env's spaces, saved."""
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    body = load_body_model()
    motion = untrained_motion(body)
    env = WalkEnv(EnvConfig(scenes=("floor",), num_agents=1), motion, standing_markers(body), body.markers.names)
    folder = tmp_path_factory.mktemp("models")
    PPO("MlpPolicy", env, seed=0, device="cpu").save(folder / "policy.zip")
    save_cvae(folder / "motion" / "cvae.pt", motion.cvae, motion.marker_joints, {})
    save_regressor(folder / "motion" / "regressor.pt", motion.regressor, {})
    return SimpleNamespace(body=body, motion=motion, policy=PPO.load(folder / "policy.zip", device="cpu"),
                           folder=folder)


def _episode(models, seed, **kw):
    return policy_episode("apartment:2", seed, num_people=2, max_duration_s=2.5, body=models.body,
                          policy=models.policy, motion=models.motion, **kw)


def test_policy_episode_is_consistent_starts_on_the_paths_and_repeats_bit_for_bit(models):
    ep = _episode(models, 7)
    T = ep.num_frames
    assert ep.meta["generator"] == "policy" and ep.meta["fallen"] == []
    assert T == 2 + 13 * ep.meta["steps"] and ep.meta["steps"] == 5  # 2.5 s: 5 primitives; nobody reaches a goal
    for p in ep.people:
        assert p.markers.shape == (T, 67, 3) and p.joints.shape == (T, 55, 3) and p.betas.shape == (10,)
        assert all(np.isfinite(a).all() for a in (p.markers, p.joints, p.T_world_camera, p.transl))
        assert np.linalg.norm(p.joints[0, 0, :2] - p.path[0]) < 0.1  # pelvis starts at the path's start
        assert p.goals and all(g.reached_frame == -1 for g in p.goals)
    again = _episode(models, 7)
    for p, q in zip(ep.people, again.people):
        for name in ("betas", "global_orient", "body_pose", "transl", "joints", "T_world_camera", "markers", "path"):
            assert np.array_equal(getattr(p, name), getattr(q, name)), name
    other = _episode(models, 8)
    assert not np.array_equal(other.people[0].path, ep.people[0].path)
    assert not np.array_equal(other.people[0].transl, ep.people[0].transl)


def test_a_step_that_still_breaks_the_gate_after_every_rewind_ends_the_episode(models, monkeypatch):
    import egogen.sim.policy_episode as pe
    from egogen.sim.simulate import SimulateConfig, quality_problems

    ep = _episode(models, 7, max_backtracks=2, min_person_distance=100.0)  # every step "collides"
    assert ep.meta["abandoned"] == "people collide" and ep.meta["backtracks"] == 2
    assert ep.meta["steps"] == 0 and ep.num_frames == 2  # rewound to the start, then stopped
    assert quality_problems(ep, None, SimulateConfig(source="policy")) == ["people collide"]
    # a head off its height is rewound too, but once the rewinds are spent the episode goes on
    monkeypatch.setattr(pe, "HEAD_DRIFT_M", -10.0)
    ep = _episode(models, 7, max_backtracks=2)
    assert ep.meta["abandoned"] == "" and ep.meta["backtracks"] == 2 and ep.meta["steps"] == 5


class _Walker(torch.nn.Module):
    """Stands in for the C-VAE: moves the body rigidly (no turning) by z[:2] metres in the
    primitive's canonical frame over its 13 frames."""

    cfg = SimpleNamespace(latent=32, future=13)

    def decode(self, hist, z):
        last = hist.reshape(len(hist), 2, -1, 3)[:, 1]
        step = torch.zeros(len(hist), 1, 1, 3)
        step[..., :2] = z[:, None, None, :2]
        return (last[:, None] + torch.arange(1, 14).view(1, 13, 1, 1) / 13 * step).reshape(len(hist), -1)


class _Steer:
    """Stands in for the policy: steps towards the target waypoint in the observation, at most
    0.45 m per primitive (~1 m/s)."""

    def __init__(self, space):
        self.observation_space = space

    def predict(self, obs, deterministic=True):
        target = obs[:, 2 * 67 * 3:2 * 67 * 3 + 2]  # target waypoint (x, y) in the canonical frame
        d = np.linalg.norm(target, axis=1, keepdims=True)
        actions = np.zeros((len(obs), 32), np.float32)
        actions[:, :2] = target * np.minimum(1.0, 0.45 / np.maximum(d, 1e-9))
        return actions, None


class _Follower(torch.nn.Module):
    """Stands in for the regressor: the untrained one's neutral pose, moved to the markers' pelvis."""

    def __init__(self, motion):
        super().__init__()
        self.reg, self.mj, self.cfg = motion.regressor, motion.marker_joints, motion.regressor.cfg

    def forward(self, markers, betas):
        x = self.reg(markers, betas)[-1].clone()
        x[:, 132:134] = self.mj(markers)[:, 0, :2]
        return [x]


def test_people_walk_their_goal_chains_then_stand_still_until_everyone_is_done(models):
    motion = MotionModels(_Walker(), models.motion.marker_joints, _Follower(models.motion), {})
    space = WalkEnv(EnvConfig(scenes=("floor",), num_agents=1), models.motion, standing_markers(models.body),
                    models.body.markers.names).observation_space
    ep = policy_episode("apartment:2", 11, num_people=2, num_goals=(2, 2), max_duration_s=60.0, body=models.body,
                        policy=_Steer(space), motion=motion, candidates=1,
                        min_person_distance=0.0,  # the steering stand-in avoids neither people
                        penetration_depth=10.0)  # nor, with T-pose arms, walls
    assert ep.meta["abandoned"] == ""
    T = ep.num_frames
    last = []
    for p in ep.people:
        frames = [g.reached_frame for g in p.goals]
        assert len(frames) == 2 and 0 < frames[0] < frames[1] < T, frames
        for g in p.goals:  # the pelvis is at each goal when it is reached
            assert np.linalg.norm(p.joints[g.reached_frame, 0, :2] - g.xy) < 0.25
        assert (p.transl[frames[1]:] == p.transl[frames[1]]).all()  # done: stands still
        last.append(frames[1])
    assert max(last) == T - 1  # the episode ends when the last person is done
    assert min(last) < T - 1  # ... and the other one waited


class _Oracle(torch.nn.Module):
    """A 'regressor' that knows the posed body: it finds the frame whose markers match the
    canonical markers up to a rigid motion (Kabsch) and returns that frame's parameters
    expressed in the canonical frame, in the regressor's output format."""

    def __init__(self, markers, global_orient, body_pose, transl, rest_pelvis, num_betas):
        super().__init__()
        self.cfg = SimpleNamespace(num_betas=num_betas)
        self.m = markers.astype(np.float64)
        T = len(markers)
        self.rot = aa_to_mat(np.concatenate([global_orient, body_pose], 1).reshape(T, 22, 3).astype(np.float64))
        self.t, self.rp = transl.astype(np.float64), rest_pelvis

    def forward(self, markers, betas):
        out = []
        for q in markers.double().numpy():
            qc, mc = q - q.mean(0), self.m - self.m.mean(1, keepdims=True)
            R = kabsch(mc, qc)  # R_f q ~ m_f for every frame f
            res = np.linalg.norm(np.einsum("fij,kj->fki", R, qc) - mc, axis=-1).mean(1)
            f = int(np.argmin(res))
            Q = R[f].T  # world -> canonical
            c = q.mean(0) - Q @ self.m[f].mean(0)
            rot = self.rot[f].copy()
            rot[0] = Q @ rot[0]
            t = Q @ (self.t[f] + self.rp) + c - self.rp
            out.append(np.concatenate([mat_to_rot6d(torch.as_tensor(rot)).reshape(-1).numpy(), t]))
        return [torch.as_tensor(np.stack(out), dtype=torch.float32)]


def test_markers_to_smplx_returns_the_posed_body_through_each_primitive_frame(models):
    body = models.body
    p = scripted_episode("apartment:2", 3, num_people=1, duration_s=1.0, body=body).people[0]
    T = 2 + 13 * 2  # two chained primitives
    go, bp, tr, mk = p.global_orient[:T], p.body_pose[:T], p.transl[:T], p.markers[:T]
    rest = posed_joints_and_markers(body, p.betas, np.zeros((1, 3)), np.zeros((1, 63)), np.zeros((1, 3)), False)[0]
    oracle = _Oracle(mk, go, bp, tr, rest[0, 0].astype(np.float64), body.num_betas)
    motion = MotionModels(models.motion.cvae, models.motion.marker_joints, oracle, {})
    go2, bp2, tr2 = markers_to_smplx(mk, p.betas, motion, body, smooth_sigma=0)
    assert np.allclose(aa_to_mat(go2.astype(np.float64)), aa_to_mat(go.astype(np.float64)), atol=1e-4)
    assert np.allclose(aa_to_mat(bp2.reshape(T, 21, 3).astype(np.float64)),
                       aa_to_mat(bp.reshape(T, 21, 3).astype(np.float64)), atol=1e-4)
    assert np.abs(tr2 - tr).max() < 1e-4
    # seam smoothing moves the body little: its markers stay within millimetres of the input
    smoothed = posed_joints_and_markers(body, p.betas, *markers_to_smplx(mk, p.betas, motion, body))[1]
    assert np.linalg.norm(smoothed - mk, axis=-1).mean() < 0.005


def test_refinement_brings_the_body_closer_to_the_markers(models):
    body = models.body
    p = scripted_episode("apartment:2", 4, num_people=1, duration_s=1.0, body=body).people[0]
    mk = p.markers[:15]

    def err(steps):
        out = markers_to_smplx(mk, p.betas, models.motion, body, refine_steps=steps)
        return np.linalg.norm(posed_joints_and_markers(body, p.betas, *out)[1] - mk, axis=-1).mean()

    assert err(10) < err(0) - 0.005


def test_simulate_with_the_policy_source_writes_valid_shards_with_checkpoint_hashes(models, tmp_path):
    from egogen.data import iter_samples, read_index
    from egogen.sim.simulate import SimulateConfig, simulate

    # an untrained policy reaches no goal: relax that gate (never the default) to test the pipeline
    cfg = SimulateConfig(scene="apartment:2", source="policy", n=2, agents=1, goals=(1, 1), max_duration_s=1.5,
                         policy=str(models.folder / "policy.zip"), motion=str(models.folder / "motion"),
                         require_goals=False, max_penetration_frames=1.0)
    assert SimulateConfig().require_goals
    rep = simulate(cfg, tmp_path / "ds")
    assert rep["samples"] == 2
    result = runner.invoke(app, ["validate", str(tmp_path / "ds"), "--json"])
    assert result.exit_code == 0, result.output
    sums = read_index(tmp_path / "ds")["config"]["checkpoints"]
    assert sums["policy.zip"] == hashlib.sha256((models.folder / "policy.zip").read_bytes()).hexdigest()
    assert set(sums) == {"policy.zip", "motion/cvae.pt", "motion/regressor.pt"}
    _, members = next(iter_samples(tmp_path / "ds"))
    meta = json.loads(members["meta.json"])
    assert meta["generator"] == "policy" and meta["versions"]["checkpoints"] == sums


def test_cli_simulate_scripted_writes_shards_that_validate(tmp_path):
    out = tmp_path / "ds"
    result = runner.invoke(app, ["simulate", "--scene", "apartment:2", "--n", "2", "--agents", "1", "--source",
                                 "scripted", "--goals", "1,1", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "samples 2" in result.output and "egogen validate" in result.output
    result = runner.invoke(app, ["validate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["wearers"] == 2


def test_cli_simulate_without_a_policy_says_how_to_get_one(tmp_path):
    result = runner.invoke(app, ["simulate", "--n", "2", "--source", "policy", "--policy",
                                 str(tmp_path / "missing.zip"), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "egogen train-policy" in text and "--source scripted" in text
    assert not (tmp_path / "ds").exists()


def test_cli_simulate_help_teaches():
    result = runner.invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "A sample is one wearer" in text and "egogen validate" in text and "datasets/<scene>" in text


def test_people_start_apart_from_each_other():
    from egogen.sim.people import plan_chain, resolve_scene

    ps, _ = resolve_scene("apartment:2", None)
    first = plan_chain(ps, np.random.default_rng(0), 1, 0.5, 2.0)[0][0]
    starts = [plan_chain(ps, np.random.default_rng(s), 1, 0.5, 2.0, away_from=[first], separation=4.0)[0][0]
              for s in range(1, 9)]
    assert min(np.linalg.norm(p - first) for p in starts) >= 4.0
    free = [plan_chain(ps, np.random.default_rng(s), 1, 0.5, 2.0)[0][0] for s in range(1, 9)]
    assert min(np.linalg.norm(p - first) for p in free) < 4.0  # without the constraint some start closer
    roomy = [plan_chain(ps, np.random.default_rng(s), 1, 0.5, 2.0, start_clearance=0.6)[0][0] for s in range(1, 9)]
    assert min(float(ps.walkable.clearance_at(p)) for p in roomy) >= 0.6
    assert min(float(ps.walkable.clearance_at(p)) for p in free) < 0.6
