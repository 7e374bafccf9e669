"""Gaze model: fixated targets in the image, realistic fixation / saccade statistics, eyes
leading head turns, VOR holding the world target; scripted episodes keep the camera at eye height."""

import numpy as np

from egogen.render.camera import load_rig
from egogen.sim.gaze import (EVENT_NAMES, FIXATION, PATH_AHEAD, PERSON, PURSUIT, SACCADE, GazeParams,
                             simulate_gaze)
from egogen.sim.scripted import scripted_episode
from episode_helpers import apartment, body, episode, gaze

WEARERS = (0, 1, 2)


def _all(attr_fn):
    return np.concatenate([attr_fn(gaze(1, w)) for w in WEARERS])


def test_fixated_visible_targets_project_into_the_image_at_the_gaze_pixel():
    cam = load_rig("aria").camera
    ep = episode(1)
    for w in WEARERS:
        g = gaze(1, w)
        T = ep.people[w].T_world_camera
        fix = (g.event != SACCADE) & g.target_visible
        assert fix.mean() > 0.6
        p_cam = np.einsum("tji,tj->ti", T[fix, :3, :3], g.target_world[fix] - T[fix, :3, 3])
        uv, ok = cam.project(p_cam)
        assert ok.all()
        assert ((uv >= 0) & (uv <= [cam.width, cam.height])).all()
        assert np.abs(uv - g.pixel[fix]).max() < 0.5  # the gaze pixel is the target's pixel
        assert np.allclose(np.linalg.norm(g.direction, axis=1), 1, atol=1e-5)
        d = np.linalg.norm(g.target_world[fix] - T[fix, :3, 3], axis=1)
        assert np.allclose(g.depth[fix], d, atol=1e-3)


def test_fixation_durations_and_saccade_amplitudes_lie_in_the_documented_ranges():
    prm = GazeParams()
    fd = _all(lambda g: g.fixation_durations_s(30.0, events=(FIXATION,)))
    amps = _all(lambda g: g.saccade_amplitudes_deg())
    assert len(fd) > 100 and len(amps) > 100
    assert fd.min() >= prm.fix_min_s - 1e-9 and fd.max() <= prm.fix_max_s + 1e-9
    assert 0.2 <= np.median(fd) <= 0.4  # docs/gaze.md: median 200-400 ms
    assert amps.min() >= prm.sacc_min_deg and amps.max() <= prm.sacc_max_deg
    assert 3.0 <= np.median(amps) <= 20.0  # most natural saccades are under 15-20 deg
    # saccade frames follow the main sequence: D = 21 + 2.2 A ms, at 30 Hz
    for w in WEARERS:
        s = gaze(1, w).segments
        sac = s["event"] == SACCADE
        n = s["end"][sac] - s["start"][sac]
        want = np.maximum(1, np.round((21 + 2.2 * s["amplitude_deg"][sac]) / 1000 * 30))
        assert np.all((n == want) | (s["end"][sac] == len(gaze(1, w).event)))


def test_walkers_look_at_the_path_ahead_most_among_targets():
    kinds = _all(lambda g: g.segments["target_kind"][g.segments["event"] == FIXATION])
    counts = np.bincount(kinds, minlength=6)
    assert counts[PATH_AHEAD] == counts[:5].max()  # path ahead is the commonest chosen target


def test_vor_keeps_a_fixated_point_fixed_in_the_world_while_the_head_moves():
    ep = episode(1)
    moved = 0
    for w in WEARERS:
        g, T = gaze(1, w), ep.people[w].T_world_camera
        s = g.segments
        for a, b, ev in zip(s["start"], s["end"], s["event"]):
            if ev != FIXATION or b - a < 4:
                continue
            pts = g.target_world[a:b]
            assert np.ptp(pts, axis=0).max() < 1e-5  # the world target does not move
            ray = np.einsum("tij,tj->ti", T[a:b, :3, :3], g.direction[a:b])  # gaze ray in the world
            rel = pts - T[a:b, :3, 3]
            miss = np.linalg.norm(rel - (rel * ray).sum(1, keepdims=True) * ray, axis=1)
            assert miss.max() < 2e-3  # the ray passes through the target every frame
            if np.degrees(np.arccos(np.clip(g.direction[a] @ g.direction[b - 1], -1, 1))) > 1.0:
                moved += 1  # the eye counter-rotated in the head
    assert moved > 20


def test_eyes_lead_head_turns():
    """Across head turns of > 40 deg within 1 s, the gaze (world yaw) reaches the halfway
    angle before the head does (eyes lead, Land 2004; Imai et al. 2001)."""
    leads = []
    for w in WEARERS:
        g, T = gaze(1, w), episode(1).people[w].T_world_camera
        R = T[:, :3, :3]
        dw = np.einsum("tij,tj->ti", R, g.direction.astype(float))
        gy = np.unwrap(np.arctan2(dw[:, 1], dw[:, 0]))
        hy = np.unwrap(np.arctan2(R[:, 1, 2], R[:, 0, 2]))
        t, n = 0, len(hy)
        while t < n - 30:
            d = hy[t + 30] - hy[t]
            if abs(d) > np.radians(40):
                half, s = hy[t] + d / 2, np.sign(d)
                th = t + np.argmax(s * (hy[t:t + 31] - half) >= 0)
                lo = max(0, t - 30)
                tg = lo + np.argmax(s * (gy[lo:t + 31] - half) >= 0)
                leads.append((th - tg) / 30.0)
                t += 30
            else:
                t += 1
    leads = np.array(leads)
    assert len(leads) >= 5
    assert leads.mean() > 0.1 and np.median(leads) >= 0.0


def test_gaze_is_deterministic_per_seed_and_differs_across_seeds():
    ep, ps = episode(1), apartment()
    a = simulate_gaze(ep, ps, 0)
    assert np.array_equal(a.direction, gaze(1, 0).direction) and np.array_equal(a.event, gaze(1, 0).event)
    b = simulate_gaze(ep, ps, 0, seed=999)
    assert not np.array_equal(a.event, b.event)
    assert set(np.unique(a.event)) <= set(range(len(EVENT_NAMES)))
    person = a.target_kind == PERSON
    assert np.all(person[a.event == PURSUIT])  # pursuit follows people only


def test_scripted_camera_stays_at_adult_eye_height_and_moves_smoothly():
    ep = episode(1)
    for p in ep.people:
        c = p.T_world_camera[:, :3, 3]
        assert 1.4 <= c[:, 2].min() and c[:, 2].max() <= 1.9
        v = np.linalg.norm(np.diff(c, axis=0), axis=1) * ep.fps
        a = np.linalg.norm(np.diff(c, 2, axis=0), axis=1) * ep.fps ** 2
        assert v.max() < 2.5  # m/s: a walk, no teleport
        assert a.max() < 15.0  # m/s2: no jumps
        R = p.T_world_camera[:, :3, :3]
        rot = np.degrees(np.arccos(np.clip((np.einsum("tij,tij->t", R[1:], R[:-1]) - 1) / 2, -1, 1)))
        assert rot.max() < 12.0  # deg per frame (< 360 deg/s)
        feet = p.joints[:, [10, 11], 2]
        assert feet.min() > -0.05 and np.median(feet.min(1)) < 0.12  # on the floor, not floating
    assert ep.meta["generator"] == "scripted"


def test_scripted_episodes_are_bit_stable_per_seed():
    a, b = episode(1), scripted_episode(apartment(), 1, num_people=3, body=body())
    for p, q in zip(a.people, b.people):
        assert np.array_equal(p.T_world_camera, q.T_world_camera) and np.array_equal(p.markers, q.markers)
    c = scripted_episode(apartment(), 2, num_people=1, body=body(), duration_s=2.0)
    assert c.num_frames == 60 and not np.allclose(c.people[0].transl[0], a.people[0].transl[0])
