"""Text: instruction, description and captions name only rooms and objects of the scene."""

import re

import numpy as np

from egogen.sim.text import describe, encounters, room_phrase
from episode_helpers import apartment, episode, gaze


def _vocabulary(scene):
    rooms = {room_phrase(scene, r.name) for r in scene.rooms}
    objects = {"the " + o.label.replace("_", " ") for o in scene.objects}
    return rooms, objects


def test_text_names_only_rooms_and_objects_that_exist():
    sc = apartment().scene
    rooms, objects = _vocabulary(sc)
    kinds = {r.kind.replace("_", " ") for r in sc.rooms} | {o.label.replace("_", " ") for o in sc.objects}
    all_labels = {"sofa", "bed", "fridge", "toilet", "bathtub", "sink", "chair", "plant", "wardrobe", "desk",
                  "tv stand", "dining table", "coffee table", "kitchen counter", "bookshelf", "lamp", "oven",
                  "kitchen", "bedroom", "bathroom", "living room", "dining room", "hallway", "office", "garage"}
    for w in range(3):
        t = describe(episode(1), apartment(), w, gaze(1, w))
        texts = [t["instruction"], t["description"]] + [c["text"] for c in t["captions"]]
        for s in texts:
            for phrase in re.findall(r"\bthe ((?:first |second |third )?[a-z]+(?: [a-z]+)?)", s.lower()):
                # every "the X" phrase that is a room or object name must be one of this scene's
                words = phrase.split()
                for n in (len(words), 1):
                    cand = " ".join(words[:n]) if n > 1 else words[-1]
                    if cand in all_labels and cand not in kinds:
                        raise AssertionError(f"{s!r} names {cand!r}, which is not in the scene")
        for r in t["mentions"]["rooms"]:
            assert r in {x.name for x in sc.rooms}
        for o in t["mentions"]["objects"]:
            assert sc.objects[o["instance_id"]].label == o["label"]
        for g in episode(1).people[w].goals:  # the instruction names every goal
            assert (g.label.replace("_", " ") in t["instruction"]) or (room_phrase(sc, g.room) in t["instruction"])


def test_captions_are_time_stamped_in_order_inside_the_episode():
    ep = episode(1)
    end = int(ep.timestamps_ns[-1] + 1e9 / ep.fps) + 1
    for w in range(3):
        caps = describe(ep, apartment(), w)["captions"]
        assert caps
        starts = [c["start_ns"] for c in caps]
        assert starts == sorted(starts)
        assert all(0 <= c["start_ns"] < c["end_ns"] <= end and c["text"] for c in caps)


def test_encounters_become_sentences_with_a_place():
    ep = episode(1)
    found = 0
    for w in range(3):
        enc = encounters(ep, w)
        t = describe(ep, apartment(), w)
        for e in enc:
            me, other = ep.people[w].transl[e["frame"], :2], ep.people[e["person"]].transl[e["frame"], :2]
            assert np.linalg.norm(me - other) < 1.5
            found += 1
        assert t["description"].count("person") >= len(enc)
    assert found >= 1
