"""Command-line options of the test-time search (:mod:`egogen.sim.search`) and the steering
layer (:mod:`egogen.sim.steering`), shared by ``egogen simulate`` and ``egogen eval``; defaults from
:mod:`egogen.sim.search_settings` (as ``SimulateConfig``'s)."""

from __future__ import annotations

import typer

from egogen.sim.search_settings import ANTICIPATE, PERSONAL_SPACE, PRIOR_FRACTION


def anticipate_option(when: str):
    """``--anticipate``: the search's weight on a predicted collision; ``when`` starts the help."""
    return typer.Option(ANTICIPATE, "--anticipate", min=0.0,
                        help=f"{when}: the search's weight on a collision predicted within 1 s (both people "
                        "walking on at their velocity); 0 = only contact within the next 0.43 s primitive counts, "
                        "and people brush through each other far more often.")


def prior_fraction_option(when: str):
    """``--prior-fraction``: share of the search's codes drawn from the C-VAE prior."""
    return typer.Option(PRIOR_FRACTION, "--prior-fraction", min=0.0, max=1.0,
                        help=f"{when}: share of the search's codes drawn from the motion C-VAE's prior for people "
                        "on course to touch someone (codes that slow down, stop or step aside, which the policy "
                        "itself rarely proposes).")


def personal_space_option(when: str):
    """``--personal-space``: metres of gap the search keeps between two people."""
    return typer.Option(PERSONAL_SPACE, "--personal-space", min=0.0,
                        help=f"{when}: metres of gap the search keeps between two people's 0.25 m body discs.")


def steer_option(default: bool, when: str):
    """``--steer/--no-steer``: the steering layer between the people and the policy."""
    return typer.Option(default, "--steer/--no-steer",
                        help=f"{when}: people on course to touch someone within 2.5 s are shown a waypoint that "
                        "gives way (a side step, slower, or a stop, picked by time to collision) instead of "
                        "their path's next one.")
