"""Agent-primitive steps per second: batched stepping vs EgoGen's one-agent-at-a-time loop.

Same C-VAE, same scene (the apartment), same sensing and rewards. Batched: one WalkEnv with
N agents stepped together. One at a time (EgoGen steps its 256 environments sequentially):
N single-agent WalkEnvs stepped in a Python loop. Also prints the PPO wall time per million
environment steps measured on a short run.

    python benchmarks/bench_env.py [--agents 256] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from egogen.body import load_body_model
from egogen.sim.env import EnvConfig, WalkEnv, standing_markers


def _motion(body):
    try:
        from egogen.motion.checkpoint import load_motion_models

        return load_motion_models(), "shipped C-VAE"
    except FileNotFoundError:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from sim_helpers import untrained_motion

        return untrained_motion(body), "untrained C-VAE (same size)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--scene", default="apartment:1")
    ap.add_argument("--ppo-steps", type=int, default=8192)
    a = ap.parse_args()
    torch.set_num_threads(1)
    body = load_body_model()
    motion, what = _motion(body)
    pose, names = standing_markers(body), body.markers.names
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(a.steps, a.agents, motion.cvae.cfg.latent)).astype(np.float32)

    batched = WalkEnv(EnvConfig(scenes=(a.scene,), num_agents=a.agents, max_steps=1000), motion, pose, names)
    batched.reset()
    batched.step(actions[0])  # warm-up: builds the scene's SDF grid and ray-casting structures
    t = time.perf_counter()
    for k in range(a.steps):
        batched.step(actions[k])
    tb = time.perf_counter() - t

    singles = [WalkEnv(EnvConfig(scenes=(a.scene,), num_agents=1, max_steps=1000, agent_offset=i), motion, pose, names)
               for i in range(a.agents)]
    for i, e in enumerate(singles):
        e.reset()
        e.step(actions[0, i:i + 1])
    t = time.perf_counter()
    for k in range(a.steps):
        for i, e in enumerate(singles):
            e.step(actions[k, i:i + 1])
    ts = time.perf_counter() - t

    n = a.agents * a.steps
    print(f"{what}, scene {a.scene}, {a.agents} agents x {a.steps} steps, 1 torch thread")
    print(f"batched:          {n / tb:9.0f} agent-primitive steps/s ({n * 13 / 30 / tb:.0f} s of motion per s)")
    print(f"one at a time:    {n / ts:9.0f} agent-primitive steps/s")
    print(f"ratio:            {ts / tb:9.1f}x")

    from stable_baselines3 import PPO

    env = WalkEnv(EnvConfig(scenes=(a.scene,), num_agents=64), motion, pose, names)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=512, n_epochs=5, policy_kwargs={"net_arch": [256, 256]},
                seed=0, device="cpu")
    t = time.perf_counter()
    model.learn(a.ppo_steps)
    tp = time.perf_counter() - t
    print(f"PPO (64 agents, n_steps 32, 5 epochs, MLP 256x256): {tp / a.ppo_steps * 1e6 / 60:.1f} min per million steps")


if __name__ == "__main__":
    main()
