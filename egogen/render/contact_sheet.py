"""Contact sheets: render streams side by side as one picture (for people, not for data).

Two uses:

- :func:`contact_sheet`: one row per engine (or per frame), one column per stream, with an
  optional gaze dot per row (tests, benchmarks, engine comparisons).
- :func:`sample_sheet`: a few frames of one rendered sample of ``egogen render`` (rgb,
  depth, normals, instance and semantic segmentation) with the wearer's gaze drawn as a dot
  on the rgb panel. From the shell::

      python -m egogen.render.contact_sheet DIR --engine cycles --frames 4 [--colours 256] --out sheet.png

  where ``DIR`` is the folder of ``egogen simulate`` and ``DIR/render-<engine>`` the one of
  ``egogen render DIR --engine <engine>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

STREAMS = ("rgb", "depth", "normal", "instance", "semantic")
"""Columns of a sheet, in order."""

GAZE_COLOUR = (255, 40, 40)


def colourise(name: str, image: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of a stream: rgb as is, depth with the turbo colour map
    (0 = black), normals as (n + 1) / 2, instance/semantic ids with fixed hashed colours
    (-1 = black)."""
    if name == "rgb":
        return np.asarray(image, dtype=np.uint8)
    if name == "depth":
        import matplotlib

        d = np.asarray(image, dtype=np.float64)
        top = max_depth or (float(d.max()) if d.max() > 0 else 1.0)
        rgb = matplotlib.colormaps["turbo"](np.clip(d / top, 0, 1))[..., :3]
        rgb[d <= 0] = 0
        return (rgb * 255).astype(np.uint8)
    if name == "normal":
        n = np.asarray(image, dtype=np.float64)
        rgb = (n + 1) / 2
        rgb[np.linalg.norm(n, axis=-1) == 0] = 0
        return (rgb * 255).astype(np.uint8)
    ids = np.asarray(image, dtype=np.int64)
    h = (ids * 2654435761) & 0xFFFFFF
    rgb = np.stack([(h >> 16) & 255, (h >> 8) & 255, h & 255], -1).astype(np.uint8) | 48
    rgb[ids < 0] = 0
    return rgb


def contact_sheet(rows: dict[str, dict[str, np.ndarray]], path: str | Path, streams: Sequence[str] = STREAMS,
                  gaze: Optional[dict[str, Optional[tuple[float, float]]]] = None, title: str | None = None,
                  max_depth: float | None = None, colours: int = 0) -> Path:
    """Write a PNG with one row per entry of ``rows`` and one column per stream (grey where a
    row lacks a stream); row labels at the left, stream names on top.

    Args:
        rows: ``{row label: outputs dict}`` (an engine's outputs, or one rendered frame's
            streams as in :mod:`egogen.render.frame`); all images the same (H, W).
        path: PNG file to write (its folder is created).
        streams: the columns, names of :data:`STREAMS`.
        gaze: optional ``{row label: (u, v)}`` gaze pixel (column, row; OpenCV pixel
            centres) of that row's image, or None where there is no gaze; drawn as a red
            dot with a white ring on the row's rgb panel (on its first drawn panel if it
            has no rgb). Pixels outside the image are not drawn.
        title: optional line written above the column names.
        max_depth: metres mapped to the top of the depth colour map (default: the largest
            depth of all rows).
        colours: 0 for a full-colour PNG; 2-256 for a palette PNG of that many colours
            (median cut, Floyd-Steinberg dithering): about half the file size, for docs.
    Returns:
        the path written.
    Raises:
        ValueError: ``rows`` is empty, a row has no depth (the image size comes from it) or
            ``colours`` is not 0 or 2-256.
    """
    from PIL import Image, ImageDraw

    if colours != 0 and not 2 <= colours <= 256:
        raise ValueError(f"colours must be 0 (full colour) or 2-256, got {colours}")
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    if any("depth" not in o for o in rows.values()):
        raise ValueError("every row needs a depth image")
    first = next(iter(rows.values()))
    H, W = first["depth"].shape
    if max_depth is None:
        max_depth = max(float(np.asarray(o["depth"], np.float64).max()) for o in rows.values())
    pad, top = 70, 16 + (16 if title else 0)
    sheet = Image.new("RGB", (pad + W * len(streams), top + H * len(rows)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 2), title, fill=(255, 255, 255))
    for j, s in enumerate(streams):
        draw.text((pad + j * W + 4, top - 14), s, fill=(255, 255, 255))
    radius = max(2.5, W / 64)
    for i, (name, out) in enumerate(rows.items()):
        y0 = top + i * H
        draw.text((4, y0 + H // 2), name, fill=(255, 255, 255))
        drawn = [j for j, s in enumerate(streams) if s in out]
        for j in drawn:
            sheet.paste(Image.fromarray(colourise(streams[j], out[streams[j]], max_depth)), (pad + j * W, y0))
        uv = (gaze or {}).get(name)
        if uv is not None and drawn and 0 <= uv[0] <= W - 1 and 0 <= uv[1] <= H - 1:
            j = streams.index("rgb") if "rgb" in out and "rgb" in streams else drawn[0]
            cx, cy = pad + j * W + float(uv[0]), y0 + float(uv[1])
            r = radius + 1.5
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255))
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=GAZE_COLOUR)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if colours:
        palette = sheet.quantize(colours, method=Image.Quantize.MEDIANCUT)
        sheet = sheet.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    sheet.save(path, optimize=True)
    return path


def camera_from_dict(d: dict):
    """:class:`~egogen.render.camera.CameraModel` of ``CameraModel.to_dict()`` output (the
    ``camera`` of a rendered sample's ``frames.json``)."""
    from egogen.render.camera import CameraModel

    p = d["params"]
    k = tuple(float(p.get(f"k{i}", 0.0)) for i in range(1, 5))
    return CameraModel(d["model"], int(d["width"]), int(d["height"]), float(p["fx"]), float(p["fy"]),
                       float(p["cx"]), float(p["cy"]), k)


def gaze_pixels(gaze_direction: np.ndarray, camera) -> np.ndarray:
    """Pixels of gaze directions in a rendered image.

    Args:
        gaze_direction: (F, 3) gaze directions in the OpenCV camera frame (``gaze.npz``
            ``direction`` at the rendered frames; any length, zeros = no gaze).
        camera: the rendered image's :class:`~egogen.render.camera.CameraModel` (the
            simulated rig scaled to the render's resolution, or ``--rig``'s).
    Returns:
        (F, 2) float64 pixels (column, row); NaN where there is no gaze, the direction does
        not project (behind a pinhole, 90 degrees or more off a fisheye's axis) or the pixel
        falls outside the image.
    """
    d = np.asarray(gaze_direction, dtype=np.float64).reshape(-1, 3)
    uv, valid = camera.project(d)
    ok = valid & (np.linalg.norm(d, axis=1) > 0) & np.all(np.isfinite(uv), axis=1)
    ok &= (uv[:, 0] >= -0.5) & (uv[:, 0] <= camera.width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= camera.height - 0.5)
    uv[~ok] = np.nan
    return uv


def sample_sheet(source: str | Path, path: str | Path, engine: str = "cycles", render_dir: str | Path | None = None,
                 key: str | None = None, frames: int = 4, colours: int = 0) -> dict:
    """Contact sheet of one rendered sample: ``frames`` frames spread evenly over it (rows:
    the middle frames of ``frames`` equal parts of the rendered frames),
    rgb / depth / normal / instance / semantic (columns; grey where the engine lacks a
    stream) and the gaze dot on the rgb panel (gaze direction of ``gaze.npz`` at the
    rendered 30 Hz frame, projected with the rendered camera of ``frames.json``).

    Args:
        source: dataset folder written by ``egogen simulate``.
        path: PNG to write.
        engine: which ``egogen render`` output to read (``source/render-<engine>``).
        render_dir: the rendered folder instead (``egogen render --out``).
        key: sample key (default: the first rendered sample).
        frames: rows (at most the sample's rendered frames).
        colours: palette size of the PNG (0 = full colour), as :func:`contact_sheet`.
    Returns:
        ``{"out", "key", "engine", "frames" (rendered frame numbers shown), "times_s",
        "gaze_px" (list of [u, v] or None)}``.
    Raises:
        egogen.data.ShardError: a folder is not a dataset / render output.
        KeyError: ``key`` is not in the rendered folder or not in ``source``.
        ValueError: the rendered folder is empty, ``frames`` < 1 or bad ``colours``.
    """
    from egogen.data.samples import decode_sample
    from egogen.data.shards import iter_samples

    if frames < 1:
        raise ValueError("frames must be at least 1")
    source = Path(source)
    rdir = Path(render_dir) if render_dir is not None else source / f"render-{engine}"
    rendered = None
    for k, members in iter_samples(rdir):
        if key is None or k == key:
            key, rendered = k, decode_sample(members)
            break
    if rendered is None:
        if key is None:
            raise ValueError(f"{rdir} holds no rendered samples")
        raise KeyError(f"sample {key!r} is not in {rdir}")
    gaze = None
    for k, members in iter_samples(source):
        if k == key:
            gaze = decode_sample({"gaze.npz": members["gaze.npz"]})["gaze.npz"] if "gaze.npz" in members else None
            break
    else:
        raise KeyError(f"sample {key!r} is not in {source}")
    fr = rendered["frames.json"]
    F = len(fr["frame_index"])
    picks = np.unique(((np.arange(min(frames, F)) + 0.5) * F / min(frames, F)).astype(int))  # middles of equal parts
    camera = camera_from_dict(fr["camera"])
    uv = (gaze_pixels(gaze["direction"][np.asarray(fr["frame_index"])[picks]], camera) if gaze is not None
          else np.full((len(picks), 2), np.nan))
    arrays = {"rgb": ("rgb.npz", "rgb"), "depth": ("depth.npz", "depth"), "normal": ("normal.npz", "normal"),
              "instance": ("seg.npz", "instance"), "semantic": ("seg.npz", "semantic")}
    rows, marks, times = {}, {}, []
    for n, f in enumerate(picks):
        t = fr["timestamps_ns"][f] / 1e9
        label = f"t = {t:.1f} s"
        rows[label] = {s: np.asarray(rendered[m][a][f]) for s, (m, a) in arrays.items() if m in rendered}
        rows[label]["depth"] = rows[label]["depth"].astype(np.float32)
        if "normal" in rows[label]:
            rows[label]["normal"] = rows[label]["normal"].astype(np.float32)
        marks[label] = None if np.isnan(uv[n]).any() else (float(uv[n, 0]), float(uv[n, 1]))
        times.append(round(t, 3))
    title = (f"{key}  {fr['engine']}  {fr['rig']} {fr['camera']['model']} {fr['width']}x{fr['height']}  "
             f"red dot: gaze")
    out = contact_sheet(rows, path, STREAMS, gaze=marks, title=title, colours=colours)
    return {"out": str(out), "key": key, "engine": fr["engine"], "frames": [int(f) for f in picks], "times_s": times,
            "gaze_px": [None if m is None else [round(m[0], 2), round(m[1], 2)] for m in marks.values()]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m egogen.render.contact_sheet DIR [--engine E] [--render R] [--key K]
    [--frames N] [--colours C] [--out PNG]``: write :func:`sample_sheet` and print what it drew."""
    ap = argparse.ArgumentParser(prog="python -m egogen.render.contact_sheet",
                                 description="Contact sheet of one rendered sample: rgb, depth, normals, "
                                 "instance and semantic segmentation, gaze dot.")
    ap.add_argument("source", help="dataset folder written by `egogen simulate`")
    ap.add_argument("--engine", default="cycles", help="read SOURCE/render-ENGINE (default cycles)")
    ap.add_argument("--render", default=None, help="rendered folder (`egogen render --out`) instead")
    ap.add_argument("--key", default=None, help="sample key (default: the first rendered sample)")
    ap.add_argument("--frames", type=int, default=4, help="rows: frames spread over the sample (default 4)")
    ap.add_argument("--colours", type=int, default=0,
                    help="0: full colour; 2-256: a dithered palette PNG of that many colours (smaller, for docs)")
    ap.add_argument("--out", default="contact_sheet.png", help="PNG to write")
    a = ap.parse_args(argv)
    try:
        rep = sample_sheet(a.source, a.out, engine=a.engine, render_dir=a.render, key=a.key, frames=a.frames,
                           colours=a.colours)
    except (KeyError, ValueError, OSError, RuntimeError) as e:  # ShardError is a RuntimeError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {rep['out']}: sample {rep['key']} ({rep['engine']}), times {rep['times_s']} s, "
          f"gaze pixels {rep['gaze_px']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
