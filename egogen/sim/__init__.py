"""Simulation: episodes of people walking to goals through a scene, and their observers."""

from egogen.sim.episode import FPS, Episode, Goal, PersonTrack, sample_key, timestamps_ns

__all__ = ["FPS", "Episode", "Goal", "PersonTrack", "sample_key", "timestamps_ns"]
