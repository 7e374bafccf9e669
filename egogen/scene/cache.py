"""On-disk cache of prepared scenes: one folder per (source, options) hash.

Location: ``$EGOGEN_CACHE/scenes/`` if set, else ``$XDG_CACHE_HOME/egogen/scenes/``, else
``~/.cache/egogen/scenes/``. A folder holds ``scene.npz``, ``scene.json``,
``walkable-<radius>-<cell>.npz`` and ``prepared.json`` (the key's ingredients). When the
source file (or recipe, or asset folder) changes, its hash and so the folder change: the
scene is rebuilt, never served stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

#: Bump when the prepared artefacts change meaning (invalidates every cache entry).
PREPARE_VERSION = 1


def cache_root() -> Path:
    """Root folder of prepared-scene caches (created on demand)."""
    env = os.environ.get("EGOGEN_CACHE")
    if env:
        base = Path(env)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "egogen"
    return base / "scenes"


def file_digest(path: Path) -> str:
    """sha256 of a file; for glTF also of the buffers and images it refers to."""
    h = hashlib.sha256(Path(path).read_bytes())
    if Path(path).suffix.lower() == ".gltf":
        try:
            doc = json.loads(Path(path).read_text())
            for ref in doc.get("buffers", []) + doc.get("images", []):
                uri = ref.get("uri", "")
                side = Path(path).parent / uri
                if uri and not uri.startswith("data:") and side.is_file():
                    h.update(uri.encode())
                    h.update(hashlib.sha256(side.read_bytes()).digest())
        except (ValueError, UnicodeDecodeError):
            pass  # a corrupt glTF is reported by the importer, not here
    return h.hexdigest()


def key_of(ingredients: dict) -> str:
    """Short hex key of a JSON-serialisable dict of everything the artefact depends on."""
    blob = json.dumps({"v": PREPARE_VERSION, **ingredients}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def entry_dir(name: str, key: str) -> Path:
    """Cache folder for a scene ``name`` with ``key``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return cache_root() / f"{safe}-{key}"


def walkable_file(folder: Path, radius: float, cell: float) -> Path:
    """File name of a walkable map for (radius, cell) in a prepared folder."""
    return Path(folder) / f"walkable-r{radius:.3f}-c{cell:.3f}.npz"


def atomic_dir(final: Path):
    """Context manager: yields a temp folder that is renamed to ``final`` on success, so a
    half-written cache entry is never visible under its final name."""

    class _Atomic:
        def __enter__(self):
            final.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
            return self.tmp

        def __exit__(self, et, ev, tb):
            if et is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return False
            if final.exists():
                shutil.rmtree(final)
            os.replace(self.tmp, final)
            return False

    return _Atomic()
