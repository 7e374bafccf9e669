"""Contact sheets: five stream panels per row and the gaze dot where the gaze falls.

The end-to-end tests simulate one short scripted walk and render it with the ray caster at
48 px (no rgb: its panel stays grey and the dot goes on the first drawn panel).
"""

import numpy as np
import pytest
from PIL import Image

from egogen.render.contact_sheet import (GAZE_COLOUR, STREAMS, camera_from_dict, contact_sheet, gaze_pixels, main,
                                         sample_sheet)

PAD, TOP = 70, 16  # left label column; header line (one more line with a title)
GREY = (40, 40, 40)


def _frame(H=32, W=40):
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 1] = 200  # green everywhere: the red dot stands out
    normal = np.zeros((H, W, 3), np.float32)
    normal[..., 2] = -1
    return {"rgb": rgb, "depth": (1 + xx / W).astype(np.float32), "normal": normal,
            "instance": (xx // 10).astype(np.int32), "semantic": (yy // 16).astype(np.int32)}


def test_every_stream_gets_its_panel_and_the_gaze_dot_lands_on_the_rgb_pixel(tmp_path):
    f = _frame()
    path = contact_sheet({"a": f, "b": {k: v for k, v in f.items() if k != "rgb"}}, tmp_path / "s.png",
                         gaze={"a": (10.0, 20.0), "b": None})
    im = np.asarray(Image.open(path).convert("RGB")).astype(int)
    H, W = 32, 40
    assert im.shape == (TOP + 2 * H, PAD + 5 * W, 3)
    panels = {s: im[TOP:TOP + H, PAD + j * W:PAD + (j + 1) * W] for j, s in enumerate(STREAMS)}
    assert tuple(panels["rgb"][20, 10]) == GAZE_COLOUR  # the dot, at (u, v) = (10, 20)
    assert tuple(panels["rgb"][2, 30]) == (0, 200, 0)  # the image elsewhere
    assert tuple(panels["normal"][5, 5]) == (127, 127, 0)  # (n + 1) / 2 of (0, 0, -1)
    assert len({tuple(p) for p in panels["depth"][5]}) > 10  # a colour ramp along the row
    assert len({tuple(p) for p in panels["instance"][5]}) == 4 and len({tuple(p) for p in panels["semantic"][:, 5]}) == 2
    for j in range(1, 5):  # no dot outside the rgb panel
        assert not np.all(im[TOP + 20, PAD + j * W + 10] == GAZE_COLOUR)
    row_b = im[TOP + H:TOP + 2 * H, PAD:PAD + W]
    assert np.all(row_b == GREY)  # no rgb in row b: a grey panel, and no dot (its gaze is None)


def test_the_dot_goes_on_the_first_panel_without_rgb_and_off_image_gaze_is_not_drawn(tmp_path):
    f = {k: v for k, v in _frame().items() if k != "rgb"}
    im = np.asarray(Image.open(contact_sheet({"a": f}, tmp_path / "s.png", gaze={"a": (5.0, 6.0)})).convert("RGB"))
    assert tuple(im[TOP + 6, PAD + 40 + 5]) == GAZE_COLOUR  # on depth, the first panel drawn
    clean = np.asarray(Image.open(contact_sheet({"a": f}, tmp_path / "n.png")).convert("RGB"))
    off = np.asarray(Image.open(contact_sheet({"a": f}, tmp_path / "o.png", gaze={"a": (-30.0, 6.0)})).convert("RGB"))
    assert np.array_equal(off, clean)


def test_a_palette_sheet_keeps_the_dot_and_at_most_its_colours(tmp_path):
    f = _frame()
    im = Image.open(contact_sheet({"a": f}, tmp_path / "p.png", gaze={"a": (10.0, 20.0)}, colours=16))
    assert im.mode == "P" and len(im.getcolors()) <= 16
    dot = np.asarray(im.convert("RGB")).astype(int)[TOP + 20, PAD + 10]
    assert dot[0] > 200 and dot[1] < 100  # still red
    with pytest.raises(ValueError):
        contact_sheet({"a": f}, tmp_path / "p.png", colours=1)


def test_empty_or_depthless_rows_raise(tmp_path):
    with pytest.raises(ValueError):
        contact_sheet({}, tmp_path / "s.png")
    with pytest.raises(ValueError):
        contact_sheet({"a": {"rgb": np.zeros((4, 4, 3), np.uint8)}}, tmp_path / "s.png")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from egogen.render.dataset import RenderConfig, render_dataset
    from egogen.sim.simulate import SimulateConfig, simulate

    folder = tmp_path_factory.mktemp("sheet") / "ds"
    simulate(SimulateConfig(scene="apartment:2", source="scripted", n=1, agents=1, goals=(1, 1), max_duration_s=4.0,
                            require_goals=False, max_penetration_frames=1.0, min_person_distance=0.0), folder)
    render_dataset(folder, RenderConfig(engine="raycast", resolution=48, fps=4))
    return folder


def test_sample_sheet_shows_the_streams_of_a_rendered_sample_with_its_gaze(rendered, tmp_path):
    from egogen.data import iter_samples
    from egogen.data.samples import decode_sample

    rep = sample_sheet(rendered, tmp_path / "sheet.png", engine="raycast", frames=3)
    key, members = next(iter_samples(rendered))
    r = decode_sample(dict(next(iter_samples(rendered / "render-raycast"))[1]))
    fr = r["frames.json"]
    assert rep["key"] == key and len(rep["frames"]) == 3
    im = np.asarray(Image.open(rep["out"]).convert("RGB"))
    H, W, top = fr["height"], fr["width"], TOP + 16  # a title line
    assert im.shape == (top + 3 * H, PAD + 5 * W, 3)
    gaze = decode_sample({"gaze.npz": members["gaze.npz"]})["gaze.npz"]
    cam = decode_sample({"camera.npz": members["camera.npz"]})["camera.npz"]
    # the gaze pixel of the rendered camera is the simulated one, scaled to the render's width
    idx = np.asarray(fr["frame_index"])
    uv = gaze_pixels(gaze["direction"][idx], camera_from_dict(fr["camera"]))
    s = W / float(cam["image_size"][0])
    seen = ~np.isnan(uv[:, 0])
    assert seen.any()
    assert np.allclose(uv[seen], gaze["pixel"][idx][seen] * s, atol=1e-3 * W)
    assert any(g is not None for g in rep["gaze_px"])
    for n, f in enumerate(rep["frames"]):
        panel = im[top + n * H:top + (n + 1) * H]
        assert np.all(panel[:, PAD:PAD + W] == GREY)  # the ray caster makes no rgb
        got = rep["gaze_px"][n]
        assert (got is None) == np.isnan(uv[f, 0])
        if got is not None:  # the dot sits on the depth panel at the gaze pixel
            u, v = (int(round(c)) for c in got)
            assert tuple(panel[v, PAD + W + u]) == GAZE_COLOUR
        assert r["depth.npz"]["depth"][f].max() > 0
        for j in (2, 3, 4):  # normal, instance, semantic panels are drawn, not grey
            assert not np.all(panel[:, PAD + j * W:PAD + (j + 1) * W] == GREY)


def test_command_line_writes_the_sheet_and_refuses_an_unknown_sample(rendered, tmp_path, capsys):
    out = tmp_path / "cli.png"
    assert main([str(rendered), "--engine", "raycast", "--frames", "2", "--out", str(out)]) == 0
    assert Image.open(out).size[0] == PAD + 5 * 48 and "gaze pixels" in capsys.readouterr().out
    assert main([str(rendered), "--engine", "raycast", "--key", "nope", "--out", str(out)]) == 2
    assert main([str(rendered), "--engine", "cycles", "--out", str(out)]) == 2  # nothing rendered with cycles
