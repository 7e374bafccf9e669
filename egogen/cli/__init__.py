"""The ``egogen`` command line: one typer app, one module per command group.

Commands are thin: they parse options, call one library function and report. Each group
lives in its own module (``body.py``, ``scene.py`` ...) and is registered here.
"""

from __future__ import annotations

from typing import Optional

import typer

from egogen import __version__
from egogen.cli.body import app as body_app
from egogen.cli.scene import app as scene_app
from egogen.cli.motion import register as register_motion
from egogen.cli.data import register as register_data
from egogen.cli.policy import register as register_policy
from egogen.cli.simulate import register as register_simulate
from egogen.cli.render import register as register_render
from egogen.cli.model import register as register_model

app = typer.Typer(
    name="egogen",
    help=(
        "Synthetic egocentric data from RL-driven SMPL-X humans.\n\n"
        "Start with `egogen body info` and `egogen scene show apartment`, then make data with "
        "`egogen simulate --scene apartment --n 100`, render it with `egogen render DIR`, check it "
        "with `egogen validate DIR` and train tokenizers on it with `egogen train-model --data DIR`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(body_app, name="body")
app.add_typer(scene_app, name="scene")
register_motion(app)
register_data(app)
register_policy(app)
register_simulate(app)
register_render(app)
register_model(app)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"egogen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", help="Print the egogen version and exit.",
        callback=_version_callback, is_eager=True,
    ),
) -> None:
    """Synthetic egocentric data from RL-driven SMPL-X humans."""


def main() -> None:
    """Console-script entry point (``egogen``)."""
    app()
