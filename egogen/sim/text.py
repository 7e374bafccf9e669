"""Text for a wearer: an instruction, a description and time-stamped segment captions.

An observer of an :class:`~egogen.sim.episode.Episode`: sentences are built from the scene's
semantics (room names and kinds, object labels) and from what happened (goals reached, rooms
entered, other people passing or crossing the wearer's path, optionally what the wearer
looked at), so every room and object named exists in the scene. Templates are few and plain
on purpose: they are a ground truth to paraphrase later, not prose.
"""

from __future__ import annotations

import numpy as np

from egogen.scene.model import STRUCTURE_LABELS
from egogen.sim.people import room_of

CLOSE_M = 1.5
"""Another person within this distance (m) of the wearer is an encounter."""


def room_phrase(scene, name: str | None) -> str | None:
    """Readable name of a room (``"bedroom_2"`` -> ``"the second bedroom"`` if two bedrooms
    exist, ``"living_room"`` -> ``"the living room"``), or None."""
    if name is None:
        return None
    room = next((r for r in scene.rooms if r.name == name), None)
    kind = room.kind if room else name
    same = [r.name for r in scene.rooms if r.kind == kind]
    words = kind.replace("_", " ")
    if len(same) > 1:
        ordinal = ("first", "second", "third", "fourth", "fifth")
        i = same.index(name) if name in same else 0
        words = f"{ordinal[i] if i < len(ordinal) else str(i + 1) + 'th'} {words}"
    return f"the {words}"


def object_phrase(label: str) -> str:
    """``"coffee_table"`` -> ``"the coffee table"``."""
    return "the " + label.replace("_", " ")


def _nearest_object(scene, xy, room=None, max_dist: float = 2.5):
    best, bd = None, max_dist
    for o in scene.objects:
        if o.label in STRUCTURE_LABELS or (room is not None and o.room != room):
            continue
        b = np.asarray(o.bounds)
        d = np.hypot(max(b[0, 0] - xy[0], 0, xy[0] - b[1, 0]), max(b[0, 1] - xy[1], 0, xy[1] - b[1, 1]))
        if d < bd:
            best, bd = o, d
    return best


def _goal_phrase(scene, g) -> str:
    if g.instance_id >= 0:
        rp = room_phrase(scene, g.room)
        return object_phrase(g.label) + (f" in {rp}" if rp else "")
    return room_phrase(scene, g.room) or "a spot on the floor"


def encounters(ep, wearer: int, close_m: float = CLOSE_M) -> list[dict]:
    """Other people passing close to the wearer.

    Returns:
        One dict per encounter (contiguous frames closer than ``close_m``): ``person``,
        ``frame`` (closest approach), ``start``/``end`` frames, ``distance`` m, ``kind``:
        ``"crosses"`` (paths at 45-135 deg), ``"towards"`` (head-on), ``"alongside"``, or
        ``"passes"`` (the other person stands).
    """
    me = ep.people[wearer]
    xy = me.transl[:, :2].astype(float)
    v = np.gradient(xy, axis=0) * ep.fps
    out = []
    for q in ep.people:
        if q.person_id == me.person_id:
            continue
        oxy = q.transl[:, :2].astype(float)
        d = np.linalg.norm(oxy - xy, axis=1)
        close = d < close_m
        if not close.any():
            continue
        edges = np.flatnonzero(np.diff(np.concatenate([[0], close.astype(int), [0]])))
        ov = np.gradient(oxy, axis=0) * ep.fps
        for a, b in zip(edges[::2], edges[1::2]):
            i = a + int(np.argmin(d[a:b]))
            va, vb = v[i], ov[i]
            if np.linalg.norm(vb) < 0.2 or np.linalg.norm(va) < 0.2:
                kind = "passes"
            else:
                ang = np.degrees(np.arccos(np.clip(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb), -1, 1)))
                kind = "alongside" if ang < 45 else "towards" if ang > 135 else "crosses"
            out.append({"person": int(q.person_id), "frame": int(i), "start": int(a), "end": int(b),
                        "distance": float(d[i]), "kind": kind})
    return sorted(out, key=lambda e: e["frame"])


_ENCOUNTER = {"crosses": "a person crosses your path", "towards": "a person walks towards you and passes",
              "alongside": "a person walks alongside you", "passes": "you pass a person standing"}


def describe(ep, scene, wearer: int, gaze=None) -> dict:
    """Instruction, description and captions of one wearer.

    Args:
        ep: the episode.
        scene: its :class:`~egogen.scene.Scene` (or a PreparedScene; ``.scene`` is used).
        wearer: person index.
        gaze: optional :class:`~egogen.sim.gaze.GazeTrack` of the wearer; long looks at
            objects become captions (``"you look at the plant"``).
    Returns:
        JSON-ready dict: ``instruction`` (str), ``description`` (str), ``captions`` (list of
        ``{"start_ns", "end_ns", "text"}``, int64 ns from the episode start, in order),
        ``mentions``: ``{"rooms": [room names], "objects": [{"label", "instance_id"}]}`` -
        every room and object the text names (all exist in the scene).
    """
    sc = getattr(scene, "scene", scene)
    me = ep.people[wearer]
    T, fps = ep.num_frames, ep.fps
    ts = ep.timestamps_ns
    end_ns = int(ts[-1] + round(1e9 / fps))
    rooms_used, objs_used = [], []

    def use_room(name):
        if name and name not in rooms_used:
            rooms_used.append(name)

    def use_obj(o):
        if o is not None and all(x["instance_id"] != o.instance_id for x in objs_used):
            objs_used.append({"label": o.label, "instance_id": int(o.instance_id)})

    xy = me.transl[:, :2].astype(float)
    room_track = [room_of(sc, p) for p in xy]
    start_room = room_track[0]
    use_room(start_room)
    goals = me.goals
    parts = []
    for g in goals:
        use_room(g.room)
        if g.instance_id >= 0:
            use_obj(sc.objects[g.instance_id])
        parts.append(_goal_phrase(sc, g))
    sp = room_phrase(sc, start_room) or "where you stand"
    if parts:
        instruction = f"walk from {sp} to {parts[0]}" + "".join(f", then to {p}" for p in parts[1:])
    else:
        instruction = f"stay in {sp}"

    # events: rooms entered, goals reached, encounters, long looks
    events = []  # (frame_start, frame_end, text)
    seg_start = 0
    for i in range(1, T):
        if room_track[i] != room_track[i - 1] and room_track[i] is not None:
            if room_track[i - 1] is not None:
                events.append((seg_start, i, f"walk through {room_phrase(sc, room_track[i - 1])}"))
                use_room(room_track[i - 1])
            seg_start = i
            use_room(room_track[i])
    if room_track[-1] is not None:
        events.append((seg_start, T, f"walk through {room_phrase(sc, room_track[-1])}"))
    for g in goals:
        if 0 <= g.reached_frame < T:
            a = g.reached_frame
            events.append((a, min(T, a + int(fps)), f"reach {_goal_phrase(sc, g)}"))
    enc_sentences = []
    for e in encounters(ep, wearer):
        o = _nearest_object(sc, xy[e["frame"]], room_track[e["frame"]])
        where = f" near {object_phrase(o.label)}" if o is not None else ""
        if o is not None:
            use_obj(o)
        r = room_track[e["frame"]]
        if r and not where:
            where = f" in {room_phrase(sc, r)}"
            use_room(r)
        text = _ENCOUNTER[e["kind"]] + where
        events.append((e["start"], e["end"], text))
        enc_sentences.append(text)
    if gaze is not None:
        from egogen.sim.gaze import FIXATION, OBJECT

        s = gaze.segments
        for a, b, ev, kd, ob in zip(s["start"], s["end"], s["event"], s["target_kind"], s["object_id"]):
            if ev == FIXATION and kd == OBJECT and (b - a) / fps >= 0.4 and 0 <= ob < len(sc.objects):
                o = sc.objects[int(ob)]
                use_obj(o)
                events.append((int(a), int(b), f"you look at {object_phrase(o.label)}"))
    events.sort(key=lambda e: (e[0], e[1]))
    captions = [{"start_ns": int(ts[a]), "end_ns": int(ts[b]) if b < T else end_ns, "text": t} for a, b, t in events]
    description = instruction
    if enc_sentences:
        description += "; " + "; ".join(enc_sentences)
    others = len(ep.people) - 1
    description += f". {others} other {'person is' if others == 1 else 'people are'} around." \
        if others else ". You are alone."
    return {"instruction": instruction[0].upper() + instruction[1:] + ".", "description": description[0].upper()
            + description[1:], "captions": captions, "mentions": {"rooms": rooms_used, "objects": objs_used}}
