"""Test-time search over the policy's latent actions (after GAMMA's tree search, depth 1).

GAMMA (Zhang and Tang, CVPR 2022) does not execute the policy's action blindly at test time:
it draws several latent codes from the policy, decodes each into its motion primitive and
keeps the best by a cost. egogen does the same, one step ahead: for every person, ``candidates``
codes (the policy's mean plus draws from its Gaussian with its own spread, and optionally a
share drawn from the C-VAE prior N(0, I)) are decoded in one batched C-VAE call, scored with
the training reward (:func:`~egogen.sim.rewards.total_reward`) plus hard penalties for what
the dataset's quality gate rejects (a fall, markers inside furniture, touching another
person), and the best is executed. The policy still decides where to go; the search only
rejects the primitives that would break the episode.

Crowds: one step (0.43 s) ahead is too late to avoid a person walking towards you at 1.2 m/s,
and the policy's own codes nearly all walk on. With ``anticipate`` > 0 the score also
penalises a predicted collision within :data:`~egogen.sim.rewards.HORIZON` s (both people
walking on at their velocity at the end of the primitive; the ``anticipate`` reward term),
and, for people whose own action is on such a course, ``prior_fraction`` of the codes come
from the prior, some of which slow down or stop: people then wait or step aside in doorways
(docs/policy.md, "Test-time search").
"""

from __future__ import annotations

import numpy as np
import torch

from egogen.sim.rewards import total_reward

__all__ = ["candidate_penalties", "candidate_scores", "policy_gaussian", "search_latents"]

FALL_PENALTY = 100.0  # a fall ends the episode: never pick it if anything else is possible
INSIDE_PENALTY = 5.0  # per non-foot marker inside furniture (mean per frame)
OVERLAP_PENALTY = 100.0  # per metre of overlap with another person's disc
CLEARANCE_WANTED = 0.3  # metres between the pelvis and the nearest obstacle (arms swing)
CLEARANCE_PENALTY = 50.0  # per metre closer than that
HEAD_PENALTY = 50.0  # per metre the head leaves its standing height by more than HEAD_ALLOWED
HEAD_ALLOWED = 0.1  # metres: walking moves the head a little; falls start as a slow sag, and
# a C-VAE chain that drifts off the body's shape stretches (head up, feet into the floor)


def policy_gaussian(policy, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of a stable-baselines3 Gaussian policy's action.

    Args:
        policy: SB3 PPO with a diagonal Gaussian action distribution.
        obs: (N, obs_dim) float32 observations.
    Returns:
        mean (N, latent), std (N, latent), float32.
    """
    obs_t, _ = policy.policy.obs_to_tensor(obs)
    with torch.no_grad():
        d = policy.policy.get_distribution(obs_t).distribution
    return d.mean.cpu().numpy().astype(np.float32), d.stddev.cpu().numpy().astype(np.float32)


def candidate_penalties(terms: dict[str, np.ndarray], head_height: np.ndarray | None = None) -> np.ndarray:
    """(N, S) hard penalties of S candidate primitives per agent (0 = nothing the quality gate
    would object to): ``FALL_PENALTY`` for a fall, ``INSIDE_PENALTY`` per non-foot marker
    inside furniture, ``OVERLAP_PENALTY`` per metre of overlap with another person,
    ``CLEARANCE_PENALTY`` per metre the pelvis comes closer than ``CLEARANCE_WANTED`` to an
    obstacle and, with ``head_height``, ``HEAD_PENALTY`` per metre the head ends more than
    ``HEAD_ALLOWED`` below or above it (sinking into a fall, or the markers stretching off a
    human shape).

    Args:
        terms: (N, S) arrays of :meth:`~egogen.sim.env.WalkEnv.preview`.
        head_height: (N,) standing head heights, metres, or None.
    """
    t = {k: np.asarray(v, np.float64) for k, v in terms.items()}
    pen = (FALL_PENALTY * t["fallen"] + INSIDE_PENALTY * t["n_inside"] + OVERLAP_PENALTY * t["overlap"]
           + CLEARANCE_PENALTY * np.clip(CLEARANCE_WANTED - t["clearance"], 0, None))
    if head_height is not None:
        off = np.abs(np.asarray(head_height, np.float64)[:, None] - t["head_z"]) - HEAD_ALLOWED
        pen = pen + HEAD_PENALTY * np.clip(off, 0, None)
    return pen


def candidate_scores(terms: dict[str, np.ndarray], weights: dict[str, float],
                     head_height: np.ndarray | None = None) -> np.ndarray:
    """(N, S) score of S candidate primitives per agent (higher is better): the training
    reward (:func:`~egogen.sim.rewards.total_reward` with ``weights``) minus
    :func:`candidate_penalties`.

    Args:
        terms: (N, S) arrays of :meth:`~egogen.sim.env.WalkEnv.preview`.
        weights: reward weights.
        head_height: (N,) standing head heights, metres, or None.
    """
    flat = {k: np.asarray(v, np.float64).reshape(-1) for k, v in terms.items()}
    shape = np.shape(terms["fallen"])
    return total_reward(flat, weights).reshape(shape) - candidate_penalties(terms, head_height)


def search_latents(policy, obs: np.ndarray, env, rng: np.random.Generator, candidates: int = 8,
                   spread: float = 1.0, active: np.ndarray | None = None,
                   head_height: np.ndarray | None = None, prior_fraction: float = 0.0,
                   anticipate: float = 0.0) -> np.ndarray:
    """Latent codes for every agent of ``env``: the best of ``candidates`` decoded primitives.

    Args:
        policy: SB3 PPO walking policy (with ``candidates == 1`` any object with SB3's
            ``predict(obs, deterministic=True)``).
        obs: (N, obs_dim) observations of ``env``'s current state.
        env: the :class:`~egogen.sim.env.WalkEnv` (its :meth:`preview` decodes and scores).
        rng: draws the candidates (same generator state, same choice).
        candidates: S codes per agent; 1 = the policy's deterministic action (no search).
        spread: candidates are ``mean + spread * std * eps``, eps ~ N(0, I), clipped to the
            action space.
        active: (N,) bool, agents to search for (the others get the mean); default all.
        head_height: (N,) standing head height of each person (highest marker), metres: a
            primitive that leaves the head more than ``HEAD_ALLOWED`` below or above it is
            penalised (falls begin as a sag over two or three primitives; drifting chains
            stretch); None = no head term.
        prior_fraction: share of the ``candidates - 1`` drawn codes taken from the C-VAE
            prior N(0, I) instead of the policy's Gaussian (rounded; 0 = none); only people
            whose mean code is on course to touch someone (anticipate term < 1) may pick them.
        anticipate: weight of the anticipate term (1 = no predicted collision) added to the
            score as ``anticipate * (term - 1)``, on top of its reward weight.
    Returns:
        (N, latent) float32 codes.
    Raises:
        ValueError: ``candidates`` < 1, or ``prior_fraction`` outside [0, 1].
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    if not 0.0 <= prior_fraction <= 1.0:
        raise ValueError(f"prior_fraction must be in [0, 1], got {prior_fraction}")
    if candidates == 1:  # no search: any object with SB3's predict() will do
        return np.asarray(policy.predict(obs, deterministic=True)[0], np.float32)
    mean, std = policy_gaussian(policy, obs)
    lo, hi = env.action_space.low, env.action_space.high
    mean = np.clip(mean, lo, hi)
    N, D = mean.shape
    eps = rng.standard_normal((N, candidates - 1, D)).astype(np.float32)
    drawn = mean[:, None] + spread * std[:, None] * eps
    n_prior = int(round((candidates - 1) * prior_fraction))
    drawn[:, :n_prior] = eps[:, :n_prior]  # the C-VAE prior N(0, I)
    z = np.concatenate([mean[:, None], np.clip(drawn, lo, hi)], axis=1)
    act = np.flatnonzero(np.ones(N, bool) if active is None else active)
    if len(act) == 0:
        return mean
    _, terms = env.preview(z, still=None if active is None else ~np.asarray(active, bool))
    score = candidate_scores(terms, env.cfg.weights, head_height)
    if anticipate:
        score = score + anticipate * (np.asarray(terms["anticipate"], np.float64) - 1.0)
    if n_prior:
        # prior codes only for people whose own action is on course to touch someone: alone,
        # a code that stops would win over one that must squeeze past furniture, and the
        # person would stand there until its time runs out
        calm = np.asarray(terms["anticipate"])[:, 0] >= 1.0
        score[calm, 1:1 + n_prior] = -np.inf
    best = score.argmax(axis=1)
    out = mean.copy()
    out[act] = z[act, best[act]]
    return out
