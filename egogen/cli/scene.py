"""``egogen scene``: prepare a scene, print its facts, draw its map.

SCENE is ``apartment`` (seed 0), ``apartment:SEED``, a folder made by ``egogen scene prepare
... --out DIR``, or a mesh file (.gltf/.glb/.ply/.obj, prepared on first use and cached).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Scenes: the procedural apartment, imported meshes, walkable maps.",
                  no_args_is_help=True)
console = Console()

SCENE_HELP = "apartment, apartment:SEED, a prepared folder, or a .gltf/.glb/.ply/.obj file"


def _load(scene: str, assets: Optional[Path], radius: float):
    from egogen.scene import SceneImportError, SceneSpecError, load_scene

    try:
        return load_scene(scene, assets=assets, radius=radius)
    except (SceneSpecError, SceneImportError, NotADirectoryError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)


@app.command()
def prepare(
    path: str = typer.Argument(..., help=f"Mesh file to import, or {SCENE_HELP.split(',')[0]}[:SEED]."),
    up: str = typer.Option("auto", help="Up axis of the file: y, z or auto (glTF/GLB: y by the standard)."),
    scale: float = typer.Option(1.0, help="Multiply coordinates by this to get metres (0.01 for cm)."),
    floor: str = typer.Option("auto", help="auto: add a floor plane if none is found; add; none."),
    radius: float = typer.Option(0.25, help="Agent radius for the walkable map, metres."),
    cell: float = typer.Option(0.05, help="Walkable map cell size, metres."),
    assets: Optional[Path] = typer.Option(None, help="Apartment only: folder of glTF furniture."),
    out: Optional[Path] = typer.Option(None, help="Also write the prepared scene to this folder."),
) -> None:
    """Import a mesh (Z-up metres, floor at 0) and build its walkable map; cached per file hash."""
    from egogen.scene import SceneImportError, load_apartment, prepare_mesh

    try:
        if path == "apartment" or path.startswith("apartment:"):
            seed = path.partition(":")[2] or "0"
            if not seed.isdigit():
                raise SceneImportError(f"bad apartment seed {seed!r}; use apartment:SEED with SEED >= 0")
            ps = load_apartment(int(seed), assets, radius=radius, cell=cell, out=out)
        else:
            ps = prepare_mesh(path, up, scale, floor, radius, cell, out=out)
    except (SceneImportError, NotADirectoryError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    i = ps.info()
    console.print(f"prepared [bold]{i['name']}[/bold] -> {ps.folder}")
    console.print(f"  up {i['meta'].get('up')}, floor {'added' if i['meta'].get('floor_added') else 'found'}, "
                  f"{i['n_triangles']} triangles, floor {i['floor_area_m2']} m2, walkable "
                  f"{i['walkable_area_m2']} m2 in {i['walkable_components']} component(s)")


@app.command()
def info(
    scene: str = typer.Argument("apartment", help=SCENE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    assets: Optional[Path] = typer.Option(None, help="Apartment only: folder of glTF furniture."),
    radius: float = typer.Option(0.25, help="Agent radius, metres."),
) -> None:
    """Rooms, objects by label, floor and walkable area, components, bounds."""
    i = _load(scene, assets, radius).info()
    if as_json:
        typer.echo(json.dumps(i, indent=1))
        return
    console.print(f"[bold]{i['name']}[/bold]  source {i['source']}  seed {i['seed']}")
    console.print(f"floor {i['floor_area_m2']} m2, walkable {i['walkable_area_m2']} m2 "
                  f"({100 * i['walkable_fraction']:.0f} %), {i['walkable_components']} component(s), "
                  f"bounds {i['bounds']}")
    if i["rooms"]:
        t = Table("room", "kind", "m2", "doors")
        for r in i["rooms"]:
            t.add_row(r["name"], r["kind"], f"{r['area_m2']:.1f}", str(r["doors"]))
        console.print(t)
    console.print("objects: " + ", ".join(f"{k} x{v}" for k, v in i["objects_by_label"].items()))


@app.command()
def show(
    scene: str = typer.Argument("apartment", help=SCENE_HELP),
    out: Path = typer.Option(Path("map.png"), help="PNG to write."),
    seed: int = typer.Option(0, help="Seed of the sampled start/goal path drawn."),
    assets: Optional[Path] = typer.Option(None, help="Apartment only: folder of glTF furniture."),
    radius: float = typer.Option(0.25, help="Agent radius, metres."),
) -> None:
    """Top-down map: rooms, furniture labels, walkable area and one sampled path."""
    from egogen.scene.show import draw_map

    r = draw_map(_load(scene, assets, radius), out, seed=seed)
    length = f"{r['path_length']:.2f} m" if r["path_length"] is not None else "none"
    console.print(f"wrote {r['out']} (example path {length})")
