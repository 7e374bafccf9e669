"""Gaze loop at an episode's end: a target whose saccade takes the last frames (so no fixation
fits after it) must not stall the loop or step it backwards (regression test for 1de304c).

The world is constructed: one wearer standing still, looking along +X, a stub collision world
where nothing occludes, and exactly two world-fixed fixation targets (``_candidates`` is
replaced). The eye alternates between them, so every gaze shift is a saccade of the same
amplitude, and over a sweep of episode lengths some fixation ends 1 or 2 frames before the end,
where the next saccade cannot finish. With targets 20 deg apart (a 2-frame saccade at 30 Hz by
the main sequence) and one frame left, the code before 1de304c set the next frame to the current
one (n_sac + n_fix = 1 + (1 - 2) = 0) with the same choice every time: it looped forever. Each
call runs under a 3 s alarm so such a regression fails instead of hanging.
"""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import egogen.sim.gaze as gaze_mod
from egogen.render.camera import load_rig
from egogen.sim.gaze import EVENT_NAMES, OBJECT, SACCADE, GazeParams, simulate_gaze

FPS = 30.0
EYE = np.array([0.0, 0.0, 1.6])
OBJ_ID = 7


class _Hits(SimpleNamespace):
    pass


class _OpenWorld:
    """Collision stub: every ray escapes (nothing occludes), no floor under any point."""

    def cast_rays(self, origins, dirs, dynamic=None):
        n = len(np.atleast_2d(origins))
        return _Hits(t=np.full(n, np.inf), instance=np.full(n, -1, np.int64), points=np.zeros((n, 3)))

    def instance_at(self, points):
        return np.full(len(points), -1, np.int64)


def _episode(T: int):
    """One wearer standing at the origin for T frames, head camera at eye height facing +X."""
    Twc = np.tile(np.eye(4), (T, 1, 1))
    # OpenCV camera axes in the world: x right = -Y, y down = -Z, z forward = +X
    Twc[:, :3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    Twc[:, :3, 3] = EYE
    p = SimpleNamespace(person_id=0, T_world_camera=Twc, transl=np.zeros((T, 3)),
                        path=[[0.0, 0.0], [1.0, 0.0]], goals=[], joints=np.zeros((T, 24, 3)))
    ep = SimpleNamespace(people=[p], fps=FPS, num_frames=T, seed=3, rig="aria")
    ps = SimpleNamespace(scene=SimpleNamespace(objects=[]), collision=_OpenWorld())
    return ep, ps


def _two_targets(apart_deg: float):
    """A candidate search that always offers the same two targets 3 m ahead, at yaw
    +-apart_deg / 2 (both inside the eye's range and the image)."""
    yaws = np.radians([apart_deg / 2, -apart_deg / 2])
    targets = [EYE + 3.0 * np.array([np.cos(a), np.sin(a), 0.0]) for a in yaws]

    def candidates(w, f, n, rng, prm):
        return [gaze_mod._Cand(OBJECT, OBJ_ID, np.repeat(t[None], n, 0)) for t in targets]

    return candidates


def _call_with_timeout(fn, seconds: float):
    """fn() or a failure after ``seconds`` (SIGALRM in the main thread, else a watcher thread)."""
    if hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread():
        def _expired(signum, frame):
            raise TimeoutError(f"simulate_gaze did not return within {seconds} s (gaze loop stalled)")

        old = signal.signal(signal.SIGALRM, _expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", fn()), daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"simulate_gaze did not return within {seconds} s (gaze loop stalled)")
    return out["r"]


def _sweep(monkeypatch, apart_deg: float, saccade_frames: int):
    """(T, GazeTrack) over a sweep of episode lengths; each call under a 3 s alarm."""
    monkeypatch.setattr(gaze_mod, "_candidates", _two_targets(apart_deg))
    rig = load_rig("aria")
    assert gaze_mod._saccade_frames(apart_deg, GazeParams(), FPS) == saccade_frames  # the construction
    for T in range(8, 48):
        ep, ps = _episode(T)
        yield T, _call_with_timeout(lambda: simulate_gaze(ep, ps, 0, rig=rig), 3.0)


@pytest.mark.parametrize("apart_deg, saccade_frames", [(20.0, 2), (30.0, 3)])
def test_saccade_into_the_last_frames_ends_the_episode_without_stalling(monkeypatch, apart_deg, saccade_frames):
    prm = GazeParams()
    cut_short = 0
    for T, g in _sweep(monkeypatch, apart_deg, saccade_frames):
        # well-formed: per-frame arrays of the episode's length, finite, unit directions
        for a in (g.direction, g.pixel, g.target_world):
            assert a.shape == (T, a.shape[1]) and np.isfinite(a).all()
        assert g.depth.shape == (T,) and np.isfinite(g.depth).all()
        assert np.allclose(np.linalg.norm(g.direction, axis=1), 1.0, atol=1e-5)
        assert g.event.shape == g.object_id.shape == g.target_kind.shape == g.target_visible.shape == (T,)
        assert set(np.unique(g.event)) <= set(range(len(EVENT_NAMES)))
        # segments run forward in time from frame 0 to T, leaving no frame unlabelled
        s = g.segments
        assert len(s["start"]) > 0 and s["start"][0] == 0 and s["end"].max() == s["end"][-1] == T
        assert np.all(s["end"] > s["start"]) and np.all(np.diff(s["start"]) > 0)
        assert np.all(s["start"][1:] <= s["end"][:-1])  # no gap
        labels = np.full(T, 255, np.uint8)
        for a, b, ev in zip(s["start"], s["end"], s["event"]):
            labels[a:b] = ev  # a later segment overrides an earlier one
        assert np.array_equal(labels, g.event)  # every frame labelled, as the segments say
        # the situation under test: the last saccade had fewer frames left than it needs
        at_end = (s["event"] == SACCADE) & (s["end"] == T)
        need = np.array([gaze_mod._saccade_frames(float(a), prm, FPS) for a in s["amplitude_deg"]])
        if np.any(at_end & (s["end"] - s["start"] < need)):
            cut_short += 1
    assert cut_short >= 3  # the sweep reached the end-of-episode case several times


def test_segments_tile_the_episode_without_overlap_at_its_end(monkeypatch):
    for T, g in _sweep(monkeypatch, 30.0, 3):
        s = g.segments
        assert np.array_equal(s["start"][1:], s["end"][:-1]), (T, s["start"], s["end"])
