"""Test helpers for egogen.models: one tiny scripted dataset per test session, and copies of it
with members left out."""

from __future__ import annotations

from pathlib import Path

SIM = dict(scene="apartment:2", source="scripted", n=8, agents=2, goals=(1, 2), max_duration_s=10.0,
           samples_per_shard=3, max_penetration_frames=1.0)
"""4 episodes x 2 wearers, 5-10 s each, 3 samples per shard (3 shards)."""


def tiny_dataset(tmp_path_factory) -> Path:
    """The tiny scripted dataset (:data:`SIM`), simulated once per test session (the test modules
    of egogen.models share it)."""
    from egogen.sim.simulate import SimulateConfig, simulate

    out = tmp_path_factory.getbasetemp() / "models_tiny_data"
    if not (out / "index.json").is_file():
        simulate(SimulateConfig(**SIM), out, workers=1)
    return out


def rewrite_dataset(src, dst, drop) -> None:
    """Copy a dataset, dropping members: ``drop(key, index)`` -> member names to leave out."""
    from egogen.data import ShardWriter, iter_samples

    with ShardWriter(dst, 3, {"copy_of": str(src)}) as w:
        for i, (key, members) in enumerate(iter_samples(src)):
            w.add(key, {m: b for m, b in members.items() if m not in drop(key, i)})
