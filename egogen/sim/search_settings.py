"""Default settings of the test-time search in crowds (:mod:`egogen.sim.search`), used by
``SimulateConfig`` and the command line (no heavy imports: the CLI reads them at start-up).
Measured in docs/policy.md, "Crowds: anticipation and prior codes"."""

ANTICIPATE = 30.0
"""Weight of the anticipate term (a collision predicted within ``rewards.HORIZON`` s) in the score."""
PRIOR_FRACTION = 0.25
"""Share of the drawn codes taken from the C-VAE prior for people on a collision course."""
PERSONAL_SPACE = 0.2
"""Metres of gap asked for between two people's body discs (``EnvConfig.personal_space``)."""
STEER = True
"""The steering layer (:mod:`egogen.sim.steering`) on in ``egogen simulate``."""
