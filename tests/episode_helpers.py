"""Shared, cached test data for the observer tests: the apartment, the default body and
scripted episodes (built once per test session)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def apartment():
    from egogen.scene import load_scene

    return load_scene("apartment:0")


@lru_cache(maxsize=None)
def body():
    from egogen.body import load_body_model

    return load_body_model()


@lru_cache(maxsize=None)
def episode(seed: int = 1, num_people: int = 3, index: int = 0, duration_s=None):
    from egogen.sim.scripted import scripted_episode

    return scripted_episode(apartment(), seed, num_people=num_people, index=index, body=body(),
                            duration_s=duration_s)


@lru_cache(maxsize=None)
def gaze(seed: int = 1, wearer: int = 0):
    from egogen.sim.gaze import simulate_gaze

    return simulate_gaze(episode(seed), apartment(), wearer)


def write_dataset(folder, n_episodes: int = 2, num_people: int = 2, duration_s: float = 4.0, per_shard: int = 3):
    """A small dataset of scripted episodes (seeds 10, 11 ...) written as shards."""
    from egogen.data.samples import write_episodes

    eps = [episode(10 + i, num_people, i, duration_s) for i in range(n_episodes)]
    return write_episodes(eps, apartment(), folder, config={"seed": 10, "generator": "scripted"},
                          samples_per_shard=per_shard)
