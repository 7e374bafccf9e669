"""Furnish the apartment with real glTF/GLB/OBJ/PLY assets from a folder (``--assets DIR``).

An asset stands in for a catalogue item when its file name contains one of the item's
``asset_keywords`` (recipe). glTF/GLB assets are Y-up (glTF 2.0) with their front at +Z;
they are turned to egogen's Z-up item frame (front at -y), stood on z = 0 and centred on
x = y = 0. Sizes: an asset whose size lies within the catalogue range keeps it; otherwise it
is scaled uniformly to fit the size drawn for the item.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

ASSET_SUFFIXES = (".gltf", ".glb", ".obj", ".ply")
# glTF Y-up -> Z-up: rotate +90 deg about x: (x, y, z) -> (x, -z, y); front +Z -> -Y.
Y_UP_TO_Z_UP = trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0))


@dataclass
class Asset:
    """One asset file turned into egogen's item frame.

    ``mesh``: local-frame mesh (metres, Z up, front -y, standing on z = 0, centred in xy);
    ``size``: (width, depth, height) of its bounds, metres.
    """

    path: Path
    mesh: trimesh.Trimesh
    size: np.ndarray


class AssetLibrary:
    """Assets of a folder matched to catalogue items by file-name keywords.

    Args:
        folder: directory with asset files (searched recursively).
        catalogue: the recipe's ``furniture`` section.
    Raises:
        NotADirectoryError: if ``folder`` is not a directory.
    """

    def __init__(self, folder: str | Path, catalogue: dict):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise NotADirectoryError(f"--assets {self.folder}: not a directory of glTF/GLB/OBJ/PLY files")
        self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in ASSET_SUFFIXES)
        self.matches: dict[str, list[Path]] = {}
        for item, spec in catalogue.items():
            found = []
            for kw in spec.get("asset_keywords", []):
                found += [p for p in self.files if kw in p.stem.lower() and p not in found]
            if found:
                self.matches[item] = found
        self._cache: dict[Path, Asset] = {}

    def digest(self) -> str:
        """sha256 over the names and bytes of all asset files (for cache keys)."""
        h = hashlib.sha256()
        for p in sorted(self.folder.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(self.folder)).encode())
                h.update(hashlib.sha256(p.read_bytes()).digest())
        return h.hexdigest()

    def load(self, path: Path) -> Asset:
        """Load (once) and normalise one asset file."""
        if path not in self._cache:
            mesh = trimesh.load(path, force="scene").to_geometry()
            mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
            if path.suffix.lower() in (".gltf", ".glb"):
                mesh.apply_transform(Y_UP_TO_Z_UP)
            lo, hi = mesh.bounds
            mesh.apply_translation((-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]))
            self._cache[path] = Asset(path, mesh, hi - lo)
        return self._cache[path]

    def pick(self, item: str, spec: dict, size: np.ndarray, rng: np.random.Generator):
        """Choose an asset for ``item`` and size it.

        Args:
            item: catalogue key; spec: its catalogue entry; size: (3,) size drawn, metres.
        Returns:
            (mesh in the item frame, (3,) final size, asset path), or None if no asset
            matches the item.
        """
        files = self.matches.get(item)
        if not files:
            return None
        asset = self.load(files[int(rng.integers(len(files)))])
        ranges = np.array(spec["size"], float)
        if np.all(asset.size >= ranges[:, 0] * 0.9) and np.all(asset.size <= ranges[:, 1] * 1.1):
            s = 1.0
        else:
            s = float(np.min(size / asset.size))
        mesh = asset.mesh.copy()
        mesh.apply_scale(s)
        return mesh, asset.size * s, asset.path
