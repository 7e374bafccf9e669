"""The walking environment: N agents stepped in one batch, usable by stable-baselines3.

One step decodes one motion primitive per agent from its action, the latent code z of the
motion-primitive C-VAE (EgoGen, Sec. 3.2): the 2 seed frames (SSM2 markers) are put in
their canonical frame, the decoder predicts 13 frames (0.43 s at 30 Hz), and the last two
become the next seed. All agents decode in one batched C-VAE call, sense the scene in one
batched ray cast, and are rewarded by vectorised terms (:mod:`egogen.sim.rewards`).

Agents come in groups of ``agents_per_scene`` that share one scene instance and see and
avoid each other (crowds); groups are independent. An agent that reaches its goal, falls
or runs out of time is reset alone (stable-baselines3 ``VecEnv`` semantics: the terminal
observation is in ``info["terminal_observation"]``).

Every agent follows the planned path to its goal (A* on the walkable map,
:meth:`PreparedScene.plan_path`): its *target* is the next waypoint, advanced when the pelvis
comes within ``waypoint_radius`` of it; progress, facing and looking are rewarded towards the
target, and success means the pelvis within ``goal_radius`` of the final goal.

Observation per agent (float32): the 2 seed frames' markers in the canonical frame of the
first (2 x 67 x 3); the target waypoint and the final goal in that frame (x, y, cos, sin of
the bearing, 1 / (1 + d) each); the ego-depth grid from the eyes scaled to [-1, 1]
(:mod:`egogen.sim.sensing`); the remaining-time fraction; then, with ``EnvConfig.social`` = S >
0, the S nearest other people of the scene within ``SOCIAL_RANGE`` (:meth:`WalkEnv.social_features`:
position and velocity relative to the agent in its canonical frame, closeness, presence; a
slot with nobody in it is all zeros). EgoGen's policy saw no people at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv

from egogen.motion.rollout import canonical_frame_t, rollout
from egogen.scene import Capsules, load_scene
from egogen.sim.rewards import (BODY_RADIUS, DEFAULT_WEIGHTS, MarkerGroups, head_forward, pelvis_xy, reward_terms,
                                total_reward)
from egogen.sim.sensing import SensingConfig, ego_depth, normalise_depth

FPS = 30.0
START_TRIES = 20  # start samples tried for a start away from the other people
EYE_DROP = 0.07  # m, eyes sit this far below the mean of the four head markers
SOCIAL_RANGE = 6.0  # m, people further away than this are left out of the social observation
SOCIAL_FEATS = 6  # per person: x, y, vx, vy (canonical frame), 1 / (1 + gap), present


@dataclass
class EnvConfig:
    """Options of :class:`WalkEnv`.

    Attributes:
        scenes: scene specs (``load_scene``); group g uses ``scenes[g % len(scenes)]``.
        num_agents: agents stepped together (a multiple of ``agents_per_scene``).
        agents_per_scene: people sharing one scene instance (1 = no crowd).
        min_goal_dist, max_goal_dist: start-goal distance range, metres.
        max_steps: primitives per episode before truncation (13 frames each).
        goal_radius: success radius around the goal (DIMOS: 0.2 m).
        heading_jitter_deg: the start pose faces the first waypoint +- this (EgoGen: 36 degrees).
        waypoint_radius: an intermediate waypoint counts as passed within this distance, metres.
        auto_reset: reset an agent as soon as its episode ends (training); False leaves the
            agent where it is for a driver to give it a new task (:meth:`WalkEnv.assign`).
        terminate_on_penetration: end an episode when the mean number of non-foot markers
            inside furniture per frame exceeds ``pene_limit`` (EgoGen stage 2).
        terminate_on_collision: end an agent's episode when its pelvis comes within two body
            radii (0.5 m) of another person's (a collision then forfeits the goal bonus).
        personal_space: gap, metres, the ``collide`` reward asks for between two people's
            body discs (0 = only contact is penalised).
        start_separation: a new episode starts at least this far, metres, from the other
            people of its scene (resampled up to ``START_TRIES`` times).
        social: nearest other people given to the policy directly (positions and velocities,
            :meth:`WalkEnv.social_features`), 0 = none (they are then seen only in the depth
            grid). Changes the observation size: a policy works only with the value it was
            trained with (:func:`match_policy`).
        weights: reward weights (``egogen.sim.rewards.DEFAULT_WEIGHTS``).
        sensing: the ego-depth ray grid.
        seed: run seed; agent i's k-th episode draws from (seed, agent_offset + i, k).
        agent_offset: index of this env's first agent in the run (so one-agent envs can
            reproduce a batched run).
        reproject: weight of EgoGen's seed re-projection (0 = off): after every step the next
            seed frames become ``reproject * (markers of the SMPL-X body regressed from them) +
            (1 - reproject) * predicted`` (:class:`~egogen.motion.reproject.SeedProjector`;
            EgoGen: 0.5, the default), which keeps long chains of primitives on a human shape.
    """

    scenes: Sequence[str] = ("floor",)
    num_agents: int = 16
    agents_per_scene: int = 1
    min_goal_dist: float = 2.0
    max_goal_dist: float = 6.0
    max_steps: int = 30
    goal_radius: float = 0.2
    heading_jitter_deg: float = 36.0
    waypoint_radius: float = 0.5
    auto_reset: bool = True
    terminate_on_penetration: bool = False
    pene_limit: float = 3.0
    terminate_on_collision: bool = False
    personal_space: float = 0.0
    start_separation: float = 1.0
    social: int = 0
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    sensing: SensingConfig = SensingConfig()
    seed: int = 0
    agent_offset: int = 0
    reproject: float = 0.5


def _in_frame(R: np.ndarray, o: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """World xy points (N, ..., 2) in each agent's horizontal canonical frame: R^T (xy - o), with
    R (N, 2, 2) the frame's axes as columns and o (N, 2) its origin, metres."""
    return np.einsum("nji,n...j->n...i", R, xy - o.reshape(len(o), *([1] * (xy.ndim - 2)), 2))


def base_obs_dim(cfg: EnvConfig) -> int:
    """Observation size without the social slots: seed markers, goal features, depth grid, time."""
    return 2 * 67 * 3 + 10 + cfg.sensing.num_rays + 1


def match_policy(cfg: EnvConfig, policy) -> EnvConfig:
    """``cfg`` with ``social`` set to what ``policy`` (anything with an ``observation_space``,
    e.g. an SB3 PPO) was trained with, read from its observation size; ``cfg`` itself for a
    policy without an observation space (a hand-written test policy).

    Raises:
        ValueError: the size fits no number of social slots with ``cfg``'s sensing grid (the
            policy was trained with another grid or egogen version).
    """
    if getattr(policy, "observation_space", None) is None:
        return cfg
    size, base = int(policy.observation_space.shape[0]), base_obs_dim(cfg)
    social, rest = divmod(size - base, SOCIAL_FEATS)
    if social < 0 or rest:
        raise ValueError(f"the policy takes observations of size {size}, which fits no egogen walking "
                         f"environment with this sensing grid ({base} + {SOCIAL_FEATS} per "
                         "person seen): it was trained with another sensing grid or egogen version; retrain "
                         "it with `egogen train-policy`")
    return replace(cfg, social=social)


@functools.lru_cache(maxsize=2)
def _default_body(num_betas: int):
    """The default body with ``num_betas`` betas, loaded once per process."""
    from egogen.body import load_body_model

    return load_body_model(num_betas=num_betas)


def fallen(markers: np.ndarray) -> np.ndarray:
    """(R,) bool: the primitive ends with every marker below 1 m (the head has dropped; the
    person fell). ``markers``: (R, T, 67, 3) world, metres."""
    return markers[:, -1, :, 2].max(axis=1) < 1.0


def standing_markers(body, betas: Optional[np.ndarray] = None) -> np.ndarray:
    """(67, 3) float64 SSM2 markers of a body standing upright at ease
    (:func:`~egogen.body.skeleton.standing_body_pose`: arms lowered from the T-pose) at the world
    origin, lowest foot marker 2 cm above the floor, facing -y (the seed pose of every episode).

    Args:
        body: the :class:`~egogen.body.BodyModel`.
        betas: (num_betas,) shape of the body; default the mean shape (zeros).
    """
    from egogen.body import Y_UP_TO_Z_UP
    from egogen.body.skeleton import standing_body_pose

    with torch.no_grad():
        shape = {} if betas is None else {"betas": torch.as_tensor(np.asarray(betas, np.float32))[None]}
        out = body(global_orient=torch.tensor([Y_UP_TO_Z_UP], dtype=torch.float32),
                   body_pose=torch.as_tensor(standing_body_pose(), dtype=torch.float32)[None], **shape)
        m = body.marker_positions(out.vertices)[0].double().numpy()
    g = MarkerGroups.from_names(body.markers.names)
    m[:, 2] -= m[g.feet, 2].min() - 0.02
    m[:, :2] -= pelvis_xy(m, g)
    return m


def place_markers(pose: np.ndarray, xy, heading: float) -> np.ndarray:
    """(67, 3) markers of :func:`standing_markers` (pelvis at the origin, facing -y) turned to
    face world direction ``heading`` (radians from +x, counter-clockwise) and moved to ``xy``."""
    yaw = heading + np.pi / 2  # the pose faces -y
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return pose @ R.T + np.array([xy[0], xy[1], 0.0])


class WalkEnv(VecEnv):
    """Batched multi-agent walking environment (stable-baselines3 ``VecEnv``).

    Args:
        cfg: options.
        motion: loaded motion models (:func:`egogen.motion.checkpoint.load_motion_models`).
        seed_pose: (67, 3) standing markers (:func:`standing_markers`).
        marker_names: SSM2 names in marker order.
        scenes: already loaded PreparedScenes by spec (the others in ``cfg.scenes`` are loaded).
        body: the :class:`~egogen.body.BodyModel` of the marker regressor, for the seed
            re-projection (``cfg.reproject > 0``); default (or one with another number of
            betas than the regressor takes) the default body.
    Raises:
        ValueError: ``num_agents`` not a multiple of ``agents_per_scene``; re-projection
            without a marker regressor.
    """

    def __init__(self, cfg: EnvConfig, motion, seed_pose: np.ndarray, marker_names: Sequence[str],
                 scenes: Optional[dict] = None, body=None):
        if cfg.num_agents % cfg.agents_per_scene:
            raise ValueError("num_agents must be a multiple of agents_per_scene")
        self.cfg = cfg
        self.render_mode = None
        self.cvae, self.mj = motion.cvae, motion.marker_joints
        self.g = MarkerGroups.from_names(marker_names)
        self.seed_pose = np.asarray(seed_pose, np.float64)
        self.scenes = {s: (scenes or {}).get(s) or load_scene(s) for s in dict.fromkeys(cfg.scenes)}
        N, K = cfg.num_agents, cfg.agents_per_scene
        self.group = np.arange(N) // K
        self.scene_of = [cfg.scenes[g % len(cfg.scenes)] for g in range(N // K)]
        # agent indices of each scene, in agent order (fixed for the env's life)
        self.agents_in = {spec: np.flatnonzero([self.scene_of[gg] == spec for gg in self.group])
                          for spec in dict.fromkeys(self.scene_of)}
        self.latent = self.cvae.cfg.latent
        obs_dim = base_obs_dim(cfg) + SOCIAL_FEATS * cfg.social
        super().__init__(N, gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
                         gym.spaces.Box(-4.0, 4.0, (self.latent,), np.float32))
        self.seed_m = np.zeros((N, 2, 67, 3))
        self.projector = None
        if cfg.reproject > 0:
            from egogen.motion.reproject import SeedProjector

            nb = motion.regressor.cfg.num_betas if motion.regressor is not None else None
            if nb is not None and (body is None or body.num_betas != nb):
                body = _default_body(nb)
            self.projector = SeedProjector(motion, body, cfg.reproject)
        self.betas = np.zeros((N, self.projector.num_betas if self.projector else 0))  # body shapes (re-projection)
        self.goal = np.zeros((N, 2))  # final goal
        self.waypoints: list[np.ndarray] = [np.zeros((1, 2))] * N  # remaining path, (K, 2), last = goal
        self.dist = np.zeros(N)
        self.steps = np.zeros(N, np.int64)
        self.budget = np.full(N, cfg.max_steps, np.int64)  # primitives allowed for the current task
        self.episodes = np.zeros(N, np.int64)
        self._actions: Optional[np.ndarray] = None
        self.last_markers: Optional[np.ndarray] = None  # (N, 13, 67, 3) of the last step
        self.last_sdf: Optional[np.ndarray] = None  # (N, 13, P) scene SDF at its non-foot markers
        self._previewed: Optional[tuple] = None  # the last preview's seeds, codes, markers, SDF values

    # ------------------------------------------------------------------ episodes
    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, self.cfg.agent_offset + i, int(self.episodes[i])])

    def _mates(self, i: int) -> np.ndarray:
        """Indices of the other agents sharing agent ``i``'s scene instance."""
        mates = np.flatnonzero(self.group == self.group[i])
        return mates[mates != i]

    def _reset_agent(self, i: int, others: Optional[np.ndarray] = None) -> None:
        """New episode for agent ``i``; ``others`` (A, 2): pelvises of the other people of its
        scene (default: all of them where they stand now) to start ``start_separation`` away from."""
        rng = self._rng(i)
        ps = self.scenes[self.scene_of[self.group[i]]]
        if others is None:
            others = pelvis_xy(self.seed_m[self._mates(i), -1], self.g)
        for _ in range(START_TRIES):
            task = ps.sample_start_goal(seed=int(rng.integers(2**31)), min_dist=self.cfg.min_goal_dist,
                                        max_dist=self.cfg.max_goal_dist)
            gap = np.linalg.norm(others - np.asarray(task.start, float)[:2], axis=-1)
            if not len(gap) or gap.min() >= self.cfg.start_separation:
                break
        start, goal = np.asarray(task.start, float), np.asarray(task.goal, float)
        path = ps.plan_path(start, goal)
        way = path.waypoints[1:] if path.reachable else goal[None]
        bearing = np.arctan2(*(way[0] - start)[::-1])
        m = place_markers(self.seed_pose, start, bearing + np.radians(rng.uniform(-1, 1) * self.cfg.heading_jitter_deg))
        self.assign(i, np.repeat(m[None], 2, 0), way)

    def assign(self, i: int, seed_markers: np.ndarray, waypoints: np.ndarray, budget: Optional[int] = None,
               betas: Optional[np.ndarray] = None) -> None:
        """Give agent ``i`` a new task (used by resets and by drivers such as ``simulate``).

        Args:
            i: agent index.
            seed_markers: (2, 67, 3) world markers of the agent's last two frames, metres.
            waypoints: (K, 2) world xy still to walk, K >= 1, the last one is the goal.
            budget: primitives allowed for this task (its remaining-time input runs from 1 to
                0 over them); default ``cfg.max_steps``.
            betas: (NB,) the agent's body shape, used by the seed re-projection; default
                unchanged (the mean shape until set).
        """
        way = np.asarray(waypoints, np.float64).reshape(-1, 2)
        self.seed_m[i] = seed_markers
        self.waypoints[i] = way
        self.goal[i] = way[-1]
        self.dist[i] = np.linalg.norm(way[0] - pelvis_xy(self.seed_m[i, -1], self.g))
        self.steps[i] = 0
        self.budget[i] = self.cfg.max_steps if budget is None else int(budget)
        if betas is not None and self.projector is not None:
            self.betas[i] = betas  # (NB,): a shape of another size is an error here, not truncated

    def target(self) -> np.ndarray:
        """(N, 2) current target of every agent: its next waypoint (the goal on the last leg)."""
        return np.stack([w[0] for w in self.waypoints])

    def reset(self) -> np.ndarray:
        for i in range(self.num_envs):
            mates = self._mates(i)
            self._reset_agent(i, pelvis_xy(self.seed_m[mates[mates < i], -1], self.g))  # those placed already
        return self._observe()

    # ------------------------------------------------------------------ observation
    def observe(self, target: Optional[np.ndarray] = None, goal: Optional[np.ndarray] = None,
                obs: Optional[np.ndarray] = None) -> np.ndarray:
        """(N, obs_dim) float32 observations of the current state (after :meth:`assign` or
        after changing ``seed_m`` by hand).

        Args:
            target, goal: optional (N, 2) world xy shown to the policy instead of an agent's
                next waypoint / final goal (NaN rows: the real one). Only the observation
                changes; rewards, waypoints and success keep the real path (the steering
                layer, :mod:`egogen.sim.steering`).
            obs: this state's observation, already computed (e.g. returned by :meth:`step`):
                only its goal inputs are recomputed, with no second ray cast (same values as
                observing afresh).
        """
        if obs is None:
            return self._observe(target, goal)
        out = np.array(obs, np.float32, copy=True)
        goal_feat = self._goal_features(*self._frame(), target, goal)
        start = self.seed_m[0].size  # the seed frames' markers come first, as in _observe
        out[:, start:start + goal_feat.shape[1]] = goal_feat
        return out

    def _frame(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, 3) rotations and (N, 3) origins of every agent's canonical frame (its first
        seed frame), float64."""
        seed = torch.as_tensor(self.seed_m, dtype=torch.float32)
        with torch.no_grad():
            R, o = canonical_frame_t(self.mj(seed[:, 0]))
        return R.double().numpy(), o.double().numpy()

    def _goal_features(self, R: np.ndarray, o: np.ndarray, target: Optional[np.ndarray],
                       goal: Optional[np.ndarray]) -> np.ndarray:
        """(N, 10) the target waypoint's and the final goal's inputs (x, y, cos, sin,
        1 / (1 + d) each, canonical frame); ``target`` / ``goal`` replace the real ones where
        their rows are not NaN."""
        N, feats = self.num_envs, []
        for real, given in ((self.target(), target), (self.goal, goal)):
            xy = real
            if given is not None:
                given = np.asarray(given, np.float64).reshape(N, 2)
                xy = np.where(np.isnan(given).any(axis=1, keepdims=True), real, given)
            g_loc = _in_frame(R[:, :2, :2], o[:, :2], xy)
            d = np.linalg.norm(g_loc, axis=1)
            feats.append(np.stack([g_loc[:, 0], g_loc[:, 1], g_loc[:, 0] / np.maximum(d, 1e-6),
                                   g_loc[:, 1] / np.maximum(d, 1e-6), 1.0 / (1.0 + d)], axis=1))
        return np.concatenate(feats, 1)

    def _observe(self, target: Optional[np.ndarray] = None, goal: Optional[np.ndarray] = None) -> np.ndarray:
        N = self.num_envs
        R, o = self._frame()
        local = np.einsum("nji,ntmj->ntmi", R, self.seed_m - o[:, None, None])
        goal_feat = self._goal_features(R, o, target, goal)
        depth = normalise_depth(self._sense(), self.cfg.sensing).reshape(N, -1)
        remaining = 1.0 - self.steps / self.budget
        parts = [local.reshape(N, -1), goal_feat, depth, remaining[:, None]]
        if self.cfg.social:
            parts.append(self.social_features(R[:, :2, :2], o[:, :2]).reshape(N, -1))
        return np.concatenate(parts, 1).astype(np.float32)

    def social_features(self, R: np.ndarray, o: np.ndarray) -> np.ndarray:
        """(N, S, 6) the ``cfg.social`` = S nearest other people of each agent's scene.

        Per person, in the agent's canonical frame (rotation ``R`` (N, 2, 2) world -> columns,
        origin ``o`` (N, 2) world xy, metres; +y forward): pelvis position x, y (metres), pelvis
        velocity relative to the agent's x, y (m/s, from the two seed frames, 30 Hz),
        ``1 / (1 + gap)`` with gap = distance - two body radii (>= 0; 1 = touching) and 1 for
        present. Nearest first; slots beyond the people within ``SOCIAL_RANGE`` are zeros.
        """
        N, S, K = self.num_envs, self.cfg.social, self.cfg.agents_per_scene
        out = np.zeros((N, S, SOCIAL_FEATS))
        if K == 1:
            return out
        pel = pelvis_xy(self.seed_m, self.g)  # (N, 2, 2): the two seed frames
        vel = (pel[:, 1] - pel[:, 0]) * FPS
        pos_o, vel_o = self._others(np.stack([pel[:, 1], vel], axis=1)).transpose(1, 0, 2, 3)  # (N, K-1, 2) each
        rel = _in_frame(R, o, pos_o)
        rvel = _in_frame(R, np.zeros_like(o), vel_o - vel[:, None])
        d = np.linalg.norm(pos_o - pel[:, 1:], axis=-1)  # (N, K-1)
        order = np.argsort(d, axis=1, kind="stable")[:, :S]
        d = np.take_along_axis(d, order, axis=1)
        rel, rvel = (np.take_along_axis(a, order[..., None], axis=1) for a in (rel, rvel))
        seen = d <= SOCIAL_RANGE
        feats = np.concatenate([rel, rvel, (1.0 / (1.0 + np.clip(d - 2 * BODY_RADIUS, 0, None)))[..., None],
                                np.ones_like(d)[..., None]], axis=-1) * seen[..., None]
        out[:, :feats.shape[1]] = feats
        return out

    def _sense(self) -> np.ndarray:
        cur = self.seed_m[:, -1]
        head = cur[:, np.concatenate([self.g.head_front, self.g.head_back])].mean(axis=1)
        eyes = head - np.array([0.0, 0.0, EYE_DROP])
        fwd = head_forward(cur, self.g)
        heading = np.arctan2(fwd[:, 1], fwd[:, 0])
        out = np.zeros((self.num_envs, self.cfg.sensing.v_rays, self.cfg.sensing.h_rays), np.float32)
        K = self.cfg.agents_per_scene
        if K == 1:  # nobody to see: one ray cast per scene for all its agents
            for spec, idx in self.agents_in.items():
                out[idx] = ego_depth(self.scenes[spec].collision, eyes[idx], heading[idx], self.cfg.sensing)
            return out
        for g, spec in enumerate(self.scene_of):
            idx = np.arange(g * K, (g + 1) * K)
            out[idx] = ego_depth(self.scenes[spec].collision, eyes[idx], heading[idx], self.cfg.sensing,
                                 Capsules.people(pelvis_xy(cur[idx], self.g)), np.arange(K))
        return out

    # ------------------------------------------------------------------ stepping
    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.float32).reshape(self.num_envs, self.latent)

    def _decode(self, seed_m: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(R, 13, 67, 3) world markers the C-VAE decodes from seeds (R, 2, 67, 3) and z (R, latent)."""
        with torch.no_grad():
            seq = rollout(self.cvae, self.mj, torch.as_tensor(seed_m, dtype=torch.float32), 1,
                          z=torch.as_tensor(np.asarray(z, np.float32))[:, None])
        return seq[:, 2:].double().numpy()

    def _others(self, pelvis: np.ndarray) -> np.ndarray:
        """(N, T, K-1, 2) pelvises of the other people of each agent's scene, from every
        agent's (N, T, 2) pelvis track (agents of a scene are K consecutive rows)."""
        N, K = self.num_envs, self.cfg.agents_per_scene
        p = pelvis.reshape(N // K, K, *pelvis.shape[1:])
        return np.stack([np.delete(p[i // K], i % K, axis=0).transpose(1, 0, 2) for i in range(N)])

    def _on_last_leg(self) -> np.ndarray:
        """(N,) bool: the agent's target is its goal (no waypoint left before it)."""
        return np.array([len(w) == 1 for w in self.waypoints])

    def _terms(self, new: np.ndarray, agent: np.ndarray, latents: np.ndarray, others: Optional[np.ndarray],
               sdf_values: Optional[np.ndarray] = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Reward terms of decoded primitives ``new`` (R, 13, 67, 3); row r belongs to agent
        ``agent[r]`` (its scene, target and distance); ``others`` (R, 13, A, 2) pelvises of the
        other people of its scene, or None. Also returns the scene SDF at the non-foot markers
        (R, 13, P), metres (``sdf_values`` when given: not computed again)."""
        R, cfg = len(new), self.cfg
        target, dist = self.target()[agent], self.dist[agent]
        terms: dict[str, np.ndarray] = {}
        computed = sdf_values is None
        if computed:
            sdf_values = np.full(new.shape[:2] + (len(self.g.non_feet),), np.inf)  # inf: no scene to enter
        for spec, idx in self.agents_in.items():
            rows = np.flatnonzero(np.isin(agent, idx))
            sdf = self.scenes[spec].sdf
            if computed and sdf is not None:
                pts = new[rows][:, :, self.g.non_feet].reshape(-1, 3)
                sdf_values[rows] = np.asarray(sdf(pts)).reshape(len(rows), new.shape[1], -1)
            t = reward_terms(new[rows], self.g, target[rows], dist[rows], FPS, sdf_values=sdf_values[rows],
                             others_xy=None if others is None else others[rows], goal_radius=cfg.goal_radius,
                             latents=latents[rows], personal_space=cfg.personal_space)
            for k, v in t.items():
                terms.setdefault(k, np.zeros(R))[rows] = v
        terms["goal"] = terms["goal"] * self._on_last_leg()[agent]  # reaching an intermediate waypoint is not success
        return terms, sdf_values

    def preview(self, z: np.ndarray, still: Optional[np.ndarray] = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Decode and score candidate actions without changing the state (test-time search).

        Each agent's candidates are scored against the other people moving as their first
        candidate (e.g. the policy's mean) says, or standing where they are if ``still``.

        Args:
            z: (N, S, latent) S candidate latent codes per agent.
            still: (N,) bool, agents that will not move this step (e.g. done); default none.
        Returns:
            markers (N, S, 13, 67, 3) world, metres; the reward terms of :meth:`step` as
            (N, S) arrays, plus ``fallen`` (head below 1 m at the primitive's last frame),
            ``head_z`` (the highest marker at the last frame, metres) and ``clearance`` (the
            pelvis's least distance to an obstacle over the primitive, metres).
        """
        N, K = self.num_envs, self.cfg.agents_per_scene
        z = np.asarray(z, np.float32)
        S = z.shape[1]
        agent = np.repeat(np.arange(N), S)
        new = self._decode(np.repeat(self.seed_m, S, axis=0), z.reshape(N * S, -1))
        others = None
        if K > 1:
            T = new.shape[1]
            p = pelvis_xy(new.reshape(N, S, T, -1, 3)[:, 0], self.g)  # (N, T, 2) first candidates
            if still is not None and np.any(still):
                p[still] = pelvis_xy(self.seed_m[still, -1], self.g)[:, None]
            others = np.repeat(self._others(p), S, axis=0)  # (N S, T, K-1, 2)
        terms, sdf_values = self._terms(new, agent, z.reshape(N * S, -1), others)
        terms["fallen"] = fallen(new).astype(np.float64)
        terms["head_z"] = new[:, -1, :, 2].max(axis=1)
        pel = pelvis_xy(new, self.g)  # (R, 13, 2)
        clear = np.zeros(len(new))
        for spec, idx in self.agents_in.items():
            rows = np.flatnonzero(np.isin(agent, idx))
            clear[rows] = self.scenes[spec].walkable.clearance_at(pel[rows]).min(axis=1)
        terms["clearance"] = clear
        new = new.reshape(N, S, *new.shape[1:])
        # step() reuses the chosen candidate's decode and SDF values
        self._previewed = (self.seed_m.copy(), z, new, sdf_values.reshape(N, S, *sdf_values.shape[1:]))
        return new, {k: v.reshape(N, S) for k, v in terms.items()}

    def _decode_actions(self) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """(N, 13, 67, 3) primitives of the current actions and, when every one was previewed,
        their SDF values (N, 13, P) (else None): taken from the last :meth:`preview` where it
        decoded the same code from the same seed frames (the search executes one of its
        candidates: no second decode), decoded otherwise."""
        cache, self._previewed = self._previewed, None
        if cache is None or not np.array_equal(cache[0], self.seed_m):
            return self._decode(self.seed_m, self._actions), None
        _, z, markers, sdf_values = cache
        hit = (z == self._actions[:, None]).all(axis=-1)  # (N, S)
        new = np.empty((self.num_envs,) + markers.shape[2:])
        found = hit.any(axis=1)
        pick = hit[found].argmax(axis=1)
        new[found] = markers[found, pick]
        if not found.all():
            new[~found] = self._decode(self.seed_m[~found], self._actions[~found])
            return new, None
        return new, sdf_values[found, pick]

    def step_wait(self):
        N, K, cfg = self.num_envs, self.cfg.agents_per_scene, self.cfg
        new, sdf_values = self._decode_actions()  # (N, 13, 67, 3)
        self.last_markers = new
        others = None
        if K > 1:
            others = self._others(pelvis_xy(new, self.g))
        terms, self.last_sdf = self._terms(new, np.arange(N), self._actions, others, sdf_values)
        reward = total_reward(terms, cfg.weights).astype(np.float32)
        if self.projector is not None:  # the next seeds back on a human body (EgoGen)
            new[:, -2:] = self.projector(torch.as_tensor(new[:, -2:], dtype=torch.float32),
                                         torch.as_tensor(self.betas, dtype=torch.float32)).double().numpy()
        self.seed_m = new[:, -2:].copy()  # not a view: resets must not write into last_markers
        self.dist = terms["dist"]
        self.steps += 1
        success = terms["goal"] > 0
        for i in np.flatnonzero(~self._on_last_leg() & (terms["dist"] < cfg.waypoint_radius)):
            self.waypoints[i] = self.waypoints[i][1:]  # waypoint passed: head for the next one
            self.dist[i] = np.linalg.norm(self.waypoints[i][0] - pelvis_xy(self.seed_m[i, -1], self.g))
        fell = fallen(new)
        pene = cfg.terminate_on_penetration & (terms["n_inside"] > cfg.pene_limit)
        bumped = cfg.terminate_on_collision & (terms["bumped"] > 0) & ~success
        timeout = self.steps >= self.budget
        done = success | fell | pene | bumped | timeout
        obs = self._observe()
        infos = [{"terms": {k: float(v[i]) for k, v in terms.items()}, "is_success": bool(success[i])}
                 for i in range(N)]
        for i in np.flatnonzero(done):
            infos[i]["terminal_observation"] = obs[i]
            infos[i]["TimeLimit.truncated"] = bool(timeout[i] and not (success[i] or fell[i] or pene[i] or bumped[i]))
            infos[i]["fallen"] = bool(fell[i])
            if cfg.auto_reset:
                self.episodes[i] += 1
                self._reset_agent(i)
        if done.any() and cfg.auto_reset:
            obs = self._observe()
        return obs, reward, done, infos

    # ------------------------------------------------------------------ VecEnv plumbing
    def close(self) -> None:
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs)] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._indices(indices))

    def seed(self, seed: Optional[int] = None):
        if seed is not None:
            self.cfg.seed = int(seed)
        return [self.cfg.seed] * self.num_envs

    def _indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else indices


class WalkGymEnv(gym.Env):
    """One agent of :class:`WalkEnv` as a plain gymnasium ``Env`` (for env checkers and
    single-agent tools). ``cfg.num_agents`` and ``cfg.agents_per_scene`` must be 1."""

    metadata = {"render_modes": []}

    def __init__(self, cfg: EnvConfig, motion, seed_pose: np.ndarray, marker_names: Sequence[str]):
        if cfg.num_agents != 1:
            raise ValueError("WalkGymEnv wraps a single agent: set num_agents=1")
        self.vec = WalkEnv(cfg, motion, seed_pose, marker_names)
        self.observation_space = self.vec.observation_space
        self.action_space = self.vec.action_space

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        if seed is not None:
            self.vec.cfg.seed = int(seed)
            self.vec.episodes[:] = 0
        return self.vec.reset()[0], {}

    def step(self, action):
        obs, reward, done, infos = self.vec.step(np.asarray(action, np.float32)[None])
        info = infos[0]
        truncated = bool(info.get("TimeLimit.truncated", False))
        if done[0]:
            obs = info.pop("terminal_observation")[None]
        return obs[0], float(reward[0]), bool(done[0]) and not truncated, truncated, info
