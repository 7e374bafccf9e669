"""egogen: synthetic egocentric data from RL-driven SMPL-X humans.

Modules follow the data: ``scene`` -> ``sim`` (episodes) -> ``render`` / sensing ->
``data`` (shards) -> ``models`` (training). ``body`` holds the SMPL-X body model, its
surface markers and the head-mounted camera rig that every stage shares.
"""

__version__ = "0.1.0"
