"""Load the apartment recipe (room programme, size ranges, furniture catalogue) from data.

The shipped recipe is ``scenes/apartment.yaml`` (found with
``egogen.resources.resource_dir("scenes")``); users may pass their own file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from egogen.resources import resource_dir

REQUIRED_SECTIONS = ("structure", "layout", "rooms", "furniture", "furnishing", "placement")
PLACEMENTS = ("wall", "corner", "free", "front_of", "around", "beside", "facing")


class RecipeError(ValueError):
    """The recipe file is missing a section or refers to something it does not define."""


def default_recipe_path() -> Path:
    """Path of the shipped apartment recipe."""
    return resource_dir("scenes") / "apartment.yaml"


def load_recipe(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check an apartment recipe.

    Args:
        path: YAML file; None for the shipped ``scenes/apartment.yaml``.
    Returns:
        The recipe as nested dicts/lists (lengths in metres), plus ``"_sha256"``: the hash
        of the file bytes (used as part of the cache key).
    Raises:
        FileNotFoundError: if ``path`` does not exist.
        RecipeError: if a section is missing, a furnishing entry names an unknown item or
            placement, or a room type has no size range.
    """
    p = Path(path) if path is not None else default_recipe_path()
    raw = p.read_bytes()
    recipe = yaml.safe_load(raw)
    if not isinstance(recipe, dict):
        raise RecipeError(f"{p}: expected a YAML mapping at the top level")
    missing = [s for s in REQUIRED_SECTIONS if s not in recipe]
    if missing:
        raise RecipeError(f"{p}: missing section(s) {missing}; see scenes/apartment.yaml")
    furniture = recipe["furniture"]
    types = recipe["rooms"]["types"]
    for kind in list(recipe["rooms"]["mandatory"]) + list(recipe["rooms"]["extras"]):
        if kind not in types:
            raise RecipeError(f"{p}: room type {kind!r} has no entry under rooms.types")
    for kind, items in recipe["furnishing"].items():
        if kind not in types:
            raise RecipeError(f"{p}: furnishing for unknown room type {kind!r}")
        for it in items:
            if it["item"] not in furniture:
                raise RecipeError(f"{p}: {kind} lists item {it['item']!r} that is not in furniture")
            if it["place"] not in PLACEMENTS:
                raise RecipeError(f"{p}: {kind}/{it['item']}: place {it['place']!r} not in {PLACEMENTS}")
            if it["place"] in ("front_of", "around", "beside", "facing") and it.get("of") not in furniture:
                raise RecipeError(f"{p}: {kind}/{it['item']}: 'of: {it.get('of')}' is not a furniture item")
    recipe["_sha256"] = hashlib.sha256(raw).hexdigest()
    return recipe
