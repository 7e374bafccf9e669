"""Engines agree on the same frame: Cycles, Workbench and pyrender against the ray caster.

Blender engines are created before pyrender: in one process, Blender's GL loader fails
after pyrender has made an EGL context (docs/render.md).
"""

import sys

import numpy as np
import pytest

from egogen.body import load_body_model
from egogen.render.camera import load_rig
from egogen.render.demo import demo_frame
from egogen.render.engines import make_renderer
from egogen.render.frame import Frame
from egogen.render.labels import person_id_base
from egogen.scene import load_scene

SIZE = 96


def _engine_or_skip(name, **kw):
    try:
        return make_renderer(name, **kw)
    except ImportError as e:
        pytest.skip(f"{name} engine cannot be imported here: {e}")


@pytest.fixture(scope="module")
def frame():
    scene = load_scene("apartment:0").scene
    return demo_frame(scene, load_body_model(), load_rig("pinhole").camera.scaled(SIZE))


@pytest.fixture(scope="module")
def rendered(frame):
    """Each engine renders the frame twice; Blender first (see module docstring)."""
    out = {}
    for name, kw in (("raycast", {}), ("cycles", {"samples": 2}), ("workbench", {}), ("pyrender", {})):
        try:
            r = make_renderer(name, **kw)
        except ImportError as e:
            out[name] = e
            continue
        out[name] = (r.render(frame), r.render(frame))
        r.close()
    return out


def _get(rendered, name):
    if isinstance(rendered[name], ImportError):
        pytest.skip(f"{name} engine cannot be imported here: {rendered[name]}")
    return rendered[name]


@pytest.mark.parametrize("engine", ["cycles", "workbench", "pyrender"])
def test_engine_depth_and_instances_agree_with_the_ray_caster(rendered, frame, engine):
    ref = _get(rendered, "raycast")[0]
    out = _get(rendered, engine)[0]
    both = (ref["depth"] > 0) & (out["depth"] > 0)
    assert both.mean() > 0.95
    assert np.median(np.abs(out["depth"] - ref["depth"])[both]) < 0.01
    assert (out["instance"] == ref["instance"]).mean() >= 0.98
    assert (out["semantic"] == ref["semantic"]).mean() >= 0.98
    person = person_id_base(frame.scene)
    assert (out["instance"] == person).sum() > 0.5 * (ref["instance"] == person).sum() > 0
    assert out["rgb"].shape == (SIZE, SIZE, 3) and out["rgb"].dtype == np.uint8 and out["rgb"].std() > 5
    if "normal" in out:
        assert np.median((out["normal"] * ref["normal"]).sum(-1)[both]) > 0.99


@pytest.mark.parametrize("engine", ["raycast", "cycles", "workbench", "pyrender"])
def test_rendering_twice_gives_identical_depth_and_segmentation(rendered, engine):
    a, b = _get(rendered, engine)
    for k in ("depth", "instance", "semantic"):
        assert np.array_equal(a[k], b[k]), k


def test_cycles_fisheye_depth_is_planar_and_matches_the_ray_caster(frame):
    cam = load_rig("aria").camera.scaled(64)
    fish = Frame(frame.scene, cam, frame.T_world_camera, frame.bodies)
    ref = make_renderer("raycast").render(fish)
    out = _engine_or_skip("cycles", samples=1, denoise=False).render(fish)
    both = (ref["depth"] > 0) & (out["depth"] > 0)
    assert both.mean() > 0.95
    assert np.median(np.abs(out["depth"] - ref["depth"])[both]) < 0.01
    assert (out["instance"] == ref["instance"]).mean() >= 0.98


def test_pyrender_refuses_a_fisheye_camera(frame):
    r = _engine_or_skip("pyrender")
    fish = Frame(frame.scene, load_rig("aria").camera.scaled(32), frame.T_world_camera)
    with pytest.raises(ValueError, match="pinhole"):
        r.render(fish)


def test_missing_bpy_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "bpy", None)  # `import bpy` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'egogen\[render\]'"):
        make_renderer("cycles")


def test_unknown_engine_is_rejected():
    with pytest.raises(ValueError, match="raycast"):
        make_renderer("eevee")
