"""``egogen simulate``: episodes -> quality gate -> gaze and text -> dataset shards.

Episode ``i`` of a run depends only on (run seed, i, attempt), so any episode can be
regenerated alone, workers can build episodes in any order, and the shards (written by the
main process in episode order) are byte-identical for any number of workers. An episode
that fails the quality gate (NaN, a goal not reached, penetration or agent collisions above
threshold) is re-drawn with the next attempt seed and the rejection is counted. ``resume``
continues a killed run from the shard index without duplicating or losing samples.

Motion sources: ``policy`` (the default: the PPO walking policy steering the motion-primitive
C-VAE with a test-time search, :mod:`egogen.sim.policy_episode`; the sha256 of the policy and
motion checkpoints is stored in the index and in every sample's ``meta.json``) and
``scripted`` (people follow planned paths with a procedural gait; fast, no learned model; a
fixture for tests and a baseline).
Models are loaded once per process; worker processes are forked after the main process has
loaded them.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from egogen.data.validate import CAMERA_HEIGHT_M
from egogen.sim import search_settings
from egogen.sim.episode import sample_key
from egogen.sim.people import closest_approach, frames_inside
from egogen.sim.rewards import FOOT_MARKERS

SOURCES = ("policy", "scripted")


@dataclass
class SimulateConfig:
    """Options of a simulation run (all of them are stored in the shard index).

    Attributes:
        scene: scene spec (``apartment``, ``apartment:SEED``, a prepared folder or mesh).
        n: samples (egocentric sequences) to write; each episode gives ``agents`` samples.
        agents: people per episode; each is recorded as a wearer.
        seed: run seed.
        rig: head-camera rig preset.
        source: motion source: ``policy`` (PPO policy + motion-primitive C-VAE) or
            ``scripted`` (procedural gait on planned paths).
        policy: ``policy.zip`` of the walking policy; None = the shipped one
            (:func:`egogen.resources.default_policy_path`).
        motion: folder of the motion models (``cvae.pt``, ``regressor.pt``); None = shipped.
        refine_steps: Adam steps refining the regressed SMPL-X bodies (policy source; 0 = off).
        candidates: latent codes tried per person and step, the best executed (policy
            source; 1 = the policy's own action, no search; :mod:`egogen.sim.search`).
        spread: candidates' spread around the policy's mean, in its standard deviations.
        prior_fraction: share of the candidates drawn from the C-VAE prior N(0, I) instead,
            for people on course to touch someone (some of them slow down or stop: people
            wait for each other).
        anticipate: the search's weight on a collision predicted within
            :data:`~egogen.sim.rewards.HORIZON` s (:mod:`egogen.sim.search`; 0 = only contact
            within the next primitive counts).
        personal_space: metres of gap the search asks for between two people's body discs
            (radius 0.25 m) in its crowding and anticipation terms.
        steer: the steering layer (:mod:`egogen.sim.steering`, default settings): people on
            course to touch someone are shown a waypoint that gives way (policy source).
        reproject: weight of EgoGen's seed re-projection (policy source; 0 = off): each next
            primitive is seeded with this blend of the markers of the SMPL-X body regressed from
            the predicted seed frames and the predicted ones
            (:class:`~egogen.motion.reproject.SeedProjector`).
        goals: (min, max) goals per person.
        max_duration_s: episode length cap, seconds.
        max_attempts: re-draws per episode before the run stops with an error.
        max_penetration_frames: reject if a person has a larger fraction of frames with a
            non-foot marker more than ``penetration_depth`` metres inside furniture.
        min_person_distance: reject if two people's pelvises come closer (metres).
        max_head_speed: reject if a head camera or a pelvis moves faster than this between two
            frames (m/s): walking heads move under ~2 m/s (the shipped policy's median 0.9,
            99th percentile 2.6), so 5 m/s (17 cm in one frame at 30 Hz) is a body that jumped.
        require_goals: reject episodes in which a goal was not reached (turn off only to
            test the pipeline with untrained policies).
        samples_per_shard: samples per tar shard.
    """

    scene: str = "apartment"
    n: int = 1000
    agents: int = 3
    seed: int = 0
    rig: str = "aria"
    source: str = "policy"
    policy: Optional[str] = None
    motion: Optional[str] = None
    refine_steps: int = 0
    candidates: int = 16
    spread: float = 1.5
    prior_fraction: float = search_settings.PRIOR_FRACTION
    anticipate: float = search_settings.ANTICIPATE
    personal_space: float = search_settings.PERSONAL_SPACE
    steer: bool = search_settings.STEER
    reproject: float = 0.5
    goals: tuple[int, int] = (1, 3)
    max_duration_s: float = 30.0
    max_attempts: int = 16
    max_penetration_frames: float = 0.05
    penetration_depth: float = 0.03
    min_person_distance: float = 0.3
    max_head_speed: float = 5.0
    require_goals: bool = True
    samples_per_shard: int = 64
    extra: dict = field(default_factory=dict)


def episode_seed(run_seed: int, index: int, attempt: int) -> int:
    """Seed of attempt ``attempt`` of episode ``index`` (independent of the worker that runs it)."""
    return int(np.random.SeedSequence([int(run_seed), int(index), int(attempt)]).generate_state(1)[0])


def quality_problems(ep, ps, cfg: SimulateConfig) -> list[str]:
    """Reasons to reject an episode (empty if it passes).

    Checks: finite, consistent arrays (``Episode.check``); not abandoned by the policy source
    (``meta["abandoned"]``: a step broke the gate after every rewind); nobody fell; every
    head camera within the plausible height range of ``egogen validate``; every
    goal reached (unless ``require_goals`` is off); the fraction
    of frames with a non-foot SSM2 marker inside furniture (precomputed SDF) per person at
    most ``max_penetration_frames``; people never closer than ``min_person_distance``; no head
    camera or pelvis faster than ``max_head_speed`` between two frames ("teleport": a body
    that flipped or jumped for a few frames).
    """
    try:
        ep.check()
    except ValueError as e:
        return [f"invalid: {e}"]
    problems = []
    if ep.meta.get("abandoned"):  # stopped early: a step broke the gate after every rewind
        return [ep.meta["abandoned"]]
    if ep.meta.get("fallen"):
        problems.append("person fell")
    lo, hi = CAMERA_HEIGHT_M  # what `egogen validate` checks: a body the regressor could not fit
    if any(not (lo <= p.T_world_camera[:, 2, 3].min() and p.T_world_camera[:, 2, 3].max() <= hi) for p in ep.people):
        problems.append("camera height")

    def top_speed(xyz: np.ndarray) -> float:  # (T, 3) metres -> fastest frame-to-frame speed, m/s
        return float(np.linalg.norm(np.diff(xyz, axis=0), axis=-1).max(initial=0.0)) * ep.fps

    if any(max(top_speed(p.T_world_camera[:, :3, 3]), top_speed(p.joints[:, 0])) > cfg.max_head_speed
           for p in ep.people):
        problems.append("teleport")
    if cfg.require_goals and any(g.reached_frame < 0 for p in ep.people for g in p.goals):
        problems.append("goal not reached")
    keep = [i for i, n in enumerate(_marker_names()) if n not in FOOT_MARKERS]
    for p in ep.people:
        if p.markers is not None:
            if frames_inside(ps.sdf, p.markers[:, keep], cfg.penetration_depth).mean() > cfg.max_penetration_frames:
                problems.append("penetration")
                break
    if closest_approach(np.stack([p.joints[:, 0, :2] for p in ep.people])) < cfg.min_person_distance:
        problems.append("people collide")
    return problems


_CACHE: dict = {}


def _marker_names():
    return _resources()["body"].markers.names


def _resources(scene: Optional[str] = None):
    if "body" not in _CACHE:
        import torch

        from egogen.body import load_body_model

        torch.set_num_threads(1)
        _CACHE["body"] = load_body_model()
    if scene is not None and _CACHE.get("scene_spec") != scene:
        from egogen.scene import load_scene

        _CACHE["scene"], _CACHE["scene_spec"] = load_scene(scene), scene
    return _CACHE


def _policy_resources(cfg: SimulateConfig) -> dict:
    """The policy, motion models, a body with the regressor's betas and the checkpoints'
    sha256, loaded once per process (per policy / motion folder).

    Raises:
        FileNotFoundError: no policy file or no ``cvae.pt`` (the messages say how to train them).
        ValueError: the motion folder has no marker regressor.
    """
    key = (cfg.policy, cfg.motion)
    if _CACHE.get("policy_key") != key:
        from egogen.body import load_body_model
        from egogen.motion.checkpoint import default_checkpoint_dir, load_motion_models
        from egogen.resources import default_policy_path
        from egogen.scene.cache import file_digest
        from egogen.sim.policy_episode import load_policy

        _resources()  # one torch thread, the default body
        path = Path(cfg.policy) if cfg.policy else default_policy_path()
        folder = Path(cfg.motion) if cfg.motion else default_checkpoint_dir()
        policy = load_policy(path)
        motion = load_motion_models(folder)
        if motion.regressor is None:
            raise ValueError(f"no marker regressor (regressor.pt) in {folder}; train the motion models with "
                             "`egogen train-motion`")
        sums = {"policy.zip": file_digest(path)} | {f"motion/{n}": file_digest(folder / n)
                                                    for n in ("cvae.pt", "regressor.pt")}
        _CACHE.update(policy_key=key, policy=policy, motion=motion, checkpoints=sums,
                      policy_body=load_body_model(num_betas=motion.regressor.cfg.num_betas))
    return _CACHE


def _episode(cfg: SimulateConfig, index: int, attempt: int):
    """Attempt ``attempt`` of episode ``index`` from the configured motion source."""
    res = _resources(cfg.scene)
    common = dict(num_people=cfg.agents, index=index, num_goals=cfg.goals, max_duration_s=cfg.max_duration_s,
                  rig=cfg.rig, scene_spec=cfg.scene)
    seed = episode_seed(cfg.seed, index, attempt)
    if cfg.source == "scripted":
        from egogen.sim.scripted import scripted_episode

        return scripted_episode(res["scene"], seed, body=res["body"], **common)
    from egogen.sim.policy_episode import policy_episode
    from egogen.sim.steering import SteeringConfig

    pol = _policy_resources(cfg)
    return policy_episode(res["scene"], seed, body=pol["policy_body"], policy=pol["policy"], motion=pol["motion"],
                          refine_steps=cfg.refine_steps, candidates=cfg.candidates, spread=cfg.spread,
                          reproject=cfg.reproject, prior_fraction=cfg.prior_fraction, anticipate=cfg.anticipate,
                          personal_space=cfg.personal_space, steering=SteeringConfig() if cfg.steer else None,
                          min_person_distance=cfg.min_person_distance, penetration_depth=cfg.penetration_depth,
                          **common)


def make_samples(cfg: SimulateConfig, index: int) -> tuple[list[tuple[str, dict]], Counter]:
    """Generate episode ``index`` (re-drawing rejected attempts) and serialise its wearers.

    Returns:
        ([(key, members)] for the wearers this episode contributes, rejection counts).
    Raises:
        RuntimeError: ``max_attempts`` attempts all failed the quality gate.
    """
    from egogen.data.samples import episode_samples

    ps = _resources(cfg.scene)["scene"]
    versions = {"checkpoints": _policy_resources(cfg)["checkpoints"]} if cfg.source == "policy" else None
    rejected: Counter = Counter()
    for attempt in range(cfg.max_attempts):
        ep = _episode(cfg, index, attempt)
        problems = quality_problems(ep, ps, cfg)
        if not problems:
            ep.meta.update({"attempt": attempt, "run_seed": cfg.seed})
            wearers = min(cfg.agents, cfg.n - index * cfg.agents)
            return episode_samples(ep, ps, versions=versions)[:wearers], rejected
        rejected.update(problems)
    hint = (f"the walking policy fails in this scene (measure it with `egogen eval --scene {cfg.scene}`)"
            if cfg.source == "policy" and rejected.keys() & {"goal not reached", "person fell"}
            else "the scene may be too cluttered for the number of people (try fewer --agents)")
    raise RuntimeError(f"episode {index}: {cfg.max_attempts} attempts failed the quality gate ({dict(rejected)}); "
                       f"{hint}")


def _job(args):
    cfg, index = args
    return index, *make_samples(cfg, index)


def simulate(cfg: SimulateConfig, out: str | Path, workers: int = 1, resume: bool = False,
             progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Run a simulation and write its shards.

    Args:
        cfg: options.
        out: dataset folder (``shard-*.tar`` + ``index.json``).
        workers: processes generating episodes (the output does not depend on it).
        resume: continue a killed run in ``out`` (same options required).
        progress: optional ``progress(samples_done, samples_total)`` callback.
    Returns:
        Report dict: samples, episodes, rejected (by reason), wall_s, samples_per_s, index.
    Raises:
        egogen.data.ShardError: ``out`` holds another run, or cannot be written (full disk:
            completed shards stay intact; rerun with ``resume``).
        FileNotFoundError: no policy or motion checkpoint (policy source).
        ValueError: unknown motion source, scene or rig, n < 1, bad goal range.
    """
    from egogen import __version__
    from egogen.data.shards import ShardWriter
    from egogen.render.camera import load_rig

    if cfg.source not in SOURCES:
        raise ValueError(f"unknown motion source {cfg.source!r}; available: {', '.join(SOURCES)}")
    if cfg.n < 1 or cfg.agents < 1:
        raise ValueError("--n and --agents must be at least 1")
    if not 0 <= cfg.goals[0] <= cfg.goals[1]:
        raise ValueError(f"goals per person: need 0 <= MIN <= MAX, got {tuple(cfg.goals)}")
    t0 = time.time()
    load_rig(cfg.rig)
    _resources(cfg.scene)  # the main process loads the scene (and models) once; workers fork from it
    config = asdict(cfg) | {"egogen_version": __version__}
    config["goals"] = list(cfg.goals)
    config["policy"], config["motion"] = (str(p) if p is not None else None for p in (cfg.policy, cfg.motion))
    if cfg.source == "policy":
        config["checkpoints"] = _policy_resources(cfg)["checkpoints"]
    writer = ShardWriter(out, cfg.samples_per_shard, config, resume=resume)
    done = writer.completed_keys()
    episodes = math.ceil(cfg.n / cfg.agents)
    todo = [i for i in range(episodes)
            if not all(k in done for k in _keys(cfg, i))]
    written = cfg.n - sum(len([k for k in _keys(cfg, i) if k not in done]) for i in todo)
    already = written
    if progress:
        progress(written, cfg.n)
    rejected: Counter = Counter()
    jobs = [(cfg, i) for i in todo]
    workers = min(workers, len(jobs))
    if workers > 1:
        import multiprocessing as mp

        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
        results = pool.map(_job, jobs, chunksize=1)
    else:
        pool, results = None, map(_job, jobs)
    try:
        for index, samples, rej in results:
            rejected.update(rej)
            for key, members in samples:
                if key not in done:
                    writer.add(key, members)
                    written += 1
            if progress:
                progress(written, cfg.n)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    index = writer.close()
    wall = time.time() - t0
    return {"samples": index["num_samples"], "episodes": episodes, "generated": written - already,
            "rejected": dict(rejected), "wall_s": round(wall, 2),
            "samples_per_s": round((written - already) / max(wall, 1e-9), 3), "out": str(out)}


def _keys(cfg: SimulateConfig, index: int) -> list[str]:
    return [sample_key(cfg.scene, index, w) for w in range(min(cfg.agents, cfg.n - index * cfg.agents))]
