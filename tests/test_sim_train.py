"""PPO training runs over the curriculum, logs every reward term, checkpoints and resumes."""

import csv

import pytest
from stable_baselines3 import PPO

from egogen.body import load_body_model
from egogen.sim.env import EnvConfig
from egogen.sim.train import Stage, TrainConfig, train_policy
from sim_helpers import untrained_motion


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def _cfg(total):
    return TrainConfig(total_steps=total, num_agents=8, n_steps=16, batch_size=64, n_epochs=1, checkpoint_every=128,
                       net_arch=(32,), curriculum=(Stage("floor", ("floor",), 1, 0.5),
                                                   Stage("crowd", ("floor:1",), 2, 0.5)),
                       env=EnvConfig(max_steps=6))


def test_tiny_training_run_writes_policy_logs_and_resumes(tmp_path, body):
    motion = untrained_motion(body)
    state = train_policy(tmp_path, motion, body, _cfg(256))
    assert state["stage"] == 2 and state["timesteps"] >= 256
    rows = list(csv.DictReader(open(tmp_path / "progress.csv")))
    assert rows and {"terms/skate", "terms/progress", "terms/pene", "terms/collide"} <= set(rows[0])
    model = PPO.load(tmp_path / "policy.zip", device="cpu")
    # markers of 2 seed frames, target + goal features, the ego-depth grid, time left
    assert model.observation_space.shape[0] == 2 * 67 * 3 + 10 + EnvConfig().sensing.num_rays + 1
    # resume: a longer budget continues the finished run in its last stage instead of starting over
    more = train_policy(tmp_path, motion, body, _cfg(512), resume=True)
    assert more["timesteps"] >= 512 and more["stage"] == 2
    # the log keeps the rows written before the resume, then goes on
    after_rows = list(csv.DictReader(open(tmp_path / "progress.csv")))
    steps = [int(float(r["time/total_timesteps"])) for r in after_rows]
    assert [r["time/total_timesteps"] for r in after_rows[:len(rows)]] == [r["time/total_timesteps"] for r in rows]
    assert steps == sorted(steps) and steps[-1] >= 512 and len(after_rows) > len(rows)
    after = PPO.load(tmp_path / "policy.zip", device="cpu")
    w0, w1 = (m.policy.state_dict()["action_net.weight"] for m in (model, after))
    assert not (w0 == w1).all()  # it trained on


def test_resume_without_a_run_is_a_clear_error(tmp_path, body):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_policy(tmp_path / "empty", untrained_motion(body), body, _cfg(64), resume=True)


def test_reward_weights_from_the_command_line_are_checked():
    from typer.testing import CliRunner

    from egogen.cli import app
    from egogen.sim.rewards import DEFAULT_WEIGHTS
    from egogen.sim.train import parse_weights

    w = parse_weights(["collide=3", "skate = 1.5"])
    assert w == dict(DEFAULT_WEIGHTS, collide=3.0, skate=1.5)
    with pytest.raises(ValueError, match="no reward term 'colide'.*collide"):
        parse_weights(["colide=3"])
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_weights(["collide=lots"])
    result = CliRunner().invoke(app, ["train-policy", "--weight", "colide=3"])
    assert result.exit_code == 2 and "no reward term" in result.output


def test_resuming_with_another_observation_is_a_clear_error_that_keeps_the_run(tmp_path, body):
    from dataclasses import replace

    motion = untrained_motion(body)
    train_policy(tmp_path, motion, body, _cfg(128))
    saved = (tmp_path / "config.json").read_text()
    other = _cfg(256)
    other.env = replace(other.env, social=2)
    with pytest.raises(ValueError, match="cannot resume.*social"):
        train_policy(tmp_path, motion, body, other, resume=True)
    assert (tmp_path / "config.json").read_text() == saved  # the run's options are not overwritten
