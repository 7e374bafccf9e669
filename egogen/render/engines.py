"""The engine registry: ``make_renderer(name)`` for ``raycast``, ``pyrender``, ``cycles``,
``workbench`` (see docs/render.md for what each gives and how fast it is)."""

from __future__ import annotations

ENGINE_NAMES = ("raycast", "pyrender", "cycles", "workbench")


def make_renderer(name: str, **options):
    """A renderer by engine name.

    Args:
        name: one of :data:`ENGINE_NAMES`.
        **options: passed to the engine's constructor (e.g. ``samples=8`` for cycles).
    Returns:
        an object with ``render(frame) -> dict`` and ``close()``.
    Raises:
        ValueError: unknown name.
        ImportError: the engine's optional packages are missing (the message says what to
            install).
    """
    if name == "raycast":
        from egogen.render.raycast import RaycastRenderer
        return RaycastRenderer(**options)
    if name == "pyrender":
        from egogen.render.pyrender_engine import PyrenderRenderer
        return PyrenderRenderer(**options)
    if name in ("cycles", "workbench"):
        from egogen.render.blender import BlenderRenderer
        return BlenderRenderer(engine=name, **options)
    raise ValueError(f"unknown render engine {name!r}; use one of {ENGINE_NAMES}")
