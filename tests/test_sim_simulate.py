"""simulate's machinery: valid shards, same bytes for any worker count, kill-and-resume, gate."""

import json

import numpy as np
import pytest

from egogen.data import ShardError, read_index
from egogen.sim.simulate import SimulateConfig, episode_seed, simulate

# One person per episode, a lenient penetration gate: the scripted baseline walkers brush
# furniture with their hands; these tests check the pipeline, not the baseline's motion.
CFG = dict(scene="apartment:2", source="scripted", n=3, agents=1, goals=(1, 1), max_duration_s=6.0, samples_per_shard=2,
           max_penetration_frames=1.0)


def _shards(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.tar"))}


def test_run_writes_valid_shards_identical_for_any_number_of_workers(tmp_path):
    from typer.testing import CliRunner

    from egogen.cli import app

    one = simulate(SimulateConfig(**CFG), tmp_path / "w1", workers=1)
    two = simulate(SimulateConfig(**CFG), tmp_path / "w2", workers=2)
    assert one["samples"] == two["samples"] == 3
    assert _shards(tmp_path / "w1") == _shards(tmp_path / "w2")
    assert len(_shards(tmp_path / "w1")) == 2
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "w1"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["errors"] == 0 and report["wearers"] == 3


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    full = tmp_path / "full"
    simulate(SimulateConfig(**CFG), full)
    part = tmp_path / "part"
    simulate(SimulateConfig(**(CFG | {"n": 2})), tmp_path / "scratch")  # not the same run: other n
    cfg = SimulateConfig(**CFG)
    simulate(cfg, part)
    (part / "shard-000001.tar").unlink()  # the run died before its last shard completed
    index = json.loads((part / "index.json").read_text())
    index["shards"] = index["shards"][:1]
    index["num_samples"] = 2
    (part / "index.json").write_text(json.dumps(index))
    with pytest.raises(ShardError, match="--resume"):
        simulate(cfg, part)
    report = simulate(cfg, part, resume=True)
    assert report["generated"] == 1 and read_index(part)["num_samples"] == 3
    assert _shards(part) == _shards(full)


def test_episode_seeds_are_independent_of_order_and_attempt():
    seeds = {episode_seed(0, i, a) for i in range(20) for a in range(3)}
    assert len(seeds) == 60 and episode_seed(0, 5, 1) == episode_seed(0, 5, 1)


def test_gate_rejects_and_reports_when_nothing_passes(tmp_path):
    cfg = SimulateConfig(**(CFG | {"n": 1, "max_attempts": 2, "min_person_distance": 1e9, "agents": 2}))
    with pytest.raises(RuntimeError, match="attempts failed the quality gate.*people collide"):
        simulate(cfg, tmp_path / "x")


def test_gate_rejects_a_head_camera_outside_the_height_validate_accepts():
    from egogen.scene import load_scene
    from egogen.sim.scripted import scripted_episode
    from egogen.sim.simulate import quality_problems

    cfg = SimulateConfig(**CFG)
    ps = load_scene(cfg.scene)
    ep = scripted_episode(ps, 5, num_people=1, num_goals=(1, 1), max_duration_s=6.0, scene_spec=cfg.scene)
    assert "camera height" not in quality_problems(ep, ps, cfg)
    ep.people[0].T_world_camera[10, 2, 3] = 0.4  # one frame of a body the regressor got wrong
    assert "camera height" in quality_problems(ep, ps, cfg)


def test_gate_rejects_a_head_camera_that_jumps_for_a_frame():
    from egogen.scene import load_scene
    from egogen.sim.scripted import scripted_episode
    from egogen.sim.simulate import quality_problems

    cfg = SimulateConfig(**CFG)
    ps = load_scene(cfg.scene)
    ep = scripted_episode(ps, 5, num_people=1, num_goals=(1, 1), max_duration_s=6.0, scene_spec=cfg.scene)
    assert "teleport" not in quality_problems(ep, ps, cfg)
    ep.people[0].T_world_camera[40, 0, 3] += 0.3  # a body flipped at a seam: 9 m/s and back
    assert quality_problems(ep, ps, cfg) == ["teleport"]
    assert "teleport" not in quality_problems(ep, ps, SimulateConfig(**(CFG | {"max_head_speed": 10.0})))


def test_scripted_walkers_wait_at_their_start_instead_of_walking_through_each_other():
    from egogen.sim.scripted import PASSING_DISTANCE_M, _wait_for_others

    t = np.arange(90)[:, None] / 30.0  # 3 s at 30 Hz, 1.2 m/s
    east = np.hstack([-1.8 + 1.2 * t, np.zeros_like(t)])  # crosses the origin at 1.5 s
    north = np.hstack([np.zeros_like(t), -1.8 + 1.2 * t])  # ... and so would this one
    assert np.linalg.norm(east - north, axis=1).min() < 0.1
    wait = _wait_for_others(north, [east], 30.0)
    assert wait > 0
    late = np.concatenate([np.repeat(north[:1], wait, 0), north])
    east_done = np.concatenate([east, np.repeat(east[-1:], len(late) - len(east), 0)])
    assert np.linalg.norm(late - east_done, axis=1).min() >= PASSING_DISTANCE_M
    assert _wait_for_others(north + [10.0, 0.0], [east], 30.0) == 0  # far apart: no wait
