"""Locate the data folders that ship with egogen (``policies/``, ``render/``, ``scenes/``).

In a source checkout (editable install) they sit at the top of the repository; in an
installed wheel they travel inside the package as ``egogen/_data/<name>``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
DATA_FOLDERS = ("policies", "render", "scenes")


def resource_dir(name: str) -> Path:
    """Return the folder of shipped data called ``name``.

    Args:
        name: one of ``"policies"``, ``"render"``, ``"scenes"``.
    Returns:
        Absolute path of the folder.
    Raises:
        ValueError: if ``name`` is not a shipped data folder.
        FileNotFoundError: if the folder is missing (a broken install); the message says
            how to reinstall.
    """
    if name not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {name!r}; expected one of {DATA_FOLDERS}")
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"egogen's shipped data folder '{name}/' is missing; reinstall egogen "
        "(pip install -e . from a checkout, or pip install egogen)."
    )


def default_policy_path() -> Path:
    """The shipped walking policy: ``policies/policy/policy.zip`` (it may not exist yet)."""
    return resource_dir("policies") / "policy" / "policy.zip"
