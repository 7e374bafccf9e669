"""``pyrender`` engine: rasterised RGB, depth and segmentation on headless OpenGL.

pyrender runs on EGL (Mesa's software rasteriser when there is no GPU) or OSMesa; the
platform is chosen by ``$PYOPENGL_PLATFORM`` (``egl`` if unset). Two traps are handled or
documented here (DESIGN.md, "Environment facts"):

- pyrender 0.1.45 pins PyOpenGL 3.1.0, which breaks OSMesa; install ``PyOpenGL>=3.1.7``
  after pyrender (EGL works with it too).
- pyrender renders into a 4x multisampled framebuffer and resolves depth from it, which
  makes depth wrong on slanted surfaces; this module turns multisampling off (a one-line
  patch of pyrender's framebuffer set-up, process-wide), so depth and ids are exact
  per-pixel values and edges are aliased.

Pinhole cameras only (a rasteriser draws straight edges; fisheye raises ValueError: use
the raycast or blender engine). Scene surfaces are double-sided, as in the ray caster;
body back faces are culled (closed meshes; the ray caster culls them too). Segmentation
and depth come from a flat-coloured pass (``RenderFlags.FLAT``: no lighting, no colour
conversion) with the instance id + 1 encoded in the colour bytes; rgb is a second, shaded
pass (linear material colours, pyrender's shader gamma-encodes). The scene is merged into
one mesh per pass (one draw call; per-object nodes cost pyrender ~5 ms of Python per
frame). Outputs rgb, depth, instance, semantic; no normals.
"""

from __future__ import annotations

import os

import numpy as np

from egogen.render.frame import Frame
from egogen.render.labels import BACKGROUND, instance_to_semantic, person_id_base
from egogen.scene.model import Scene

INSTALL_HINT = ("pip install 'egogen[render]' && pip install 'PyOpenGL>=3.1.7' "
                "(system: libegl1 libegl-mesa0 libgl1-mesa-dri for EGL, or libosmesa6 with "
                "PYOPENGL_PLATFORM=osmesa)")

_PATCHED = False


def import_pyrender():
    """Import pyrender headless (``PYOPENGL_PLATFORM`` defaults to ``egl``) with MSAA off.

    Raises:
        ImportError: pyrender or PyOpenGL missing; the message says what to install.
    """
    global _PATCHED
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
        import pyrender.renderer as prr
    except Exception as e:  # ImportError, or OpenGL failing to load its platform library
        raise ImportError(f"the pyrender engine needs pyrender and a headless OpenGL: {e}. "
                          f"Install: {INSTALL_HINT}") from e
    if not _PATCHED:
        storage = prr.glRenderbufferStorageMultisample

        def single_sample(target, samples, fmt, width, height):
            storage(target, 0, fmt, width, height)

        prr.glRenderbufferStorageMultisample = single_sample
        _PATCHED = True
    return pyrender


def _id_colour(instance_id) -> np.ndarray:
    """(..., 4) float32 RGBA that the FLAT pass writes as bytes (id + 1) in R, G, B."""
    k = np.asarray(instance_id, dtype=np.int64) + 1
    return np.stack([k & 255, (k >> 8) & 255, (k >> 16) & 255, np.full_like(k, 255)], -1).astype(np.float32) / 255


def _decode_ids(seg: np.ndarray) -> np.ndarray:
    s = seg.astype(np.int32)
    return (s[..., 0] | (s[..., 1] << 8) | (s[..., 2] << 16)) - 1


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 area-weighted unit vertex normals of a triangle mesh."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(vertices, dtype=np.float64)
    for d in range(3):
        vn[:, d] = sum(np.bincount(faces[:, k], weights=fn[:, d], minlength=len(vertices)) for k in range(3))
    return (vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _flat_primitive(pr, vertices, faces, face_rgba, material):
    """A primitive with one colour per face (vertices duplicated per face, flat normals)."""
    tri = vertices[faces].reshape(-1, 3).astype(np.float32)
    fn = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-12)
    return pr.Primitive(positions=tri, normals=np.repeat(fn, 3, axis=0).astype(np.float32),
                        color_0=np.repeat(face_rgba, 3, axis=0).astype(np.float32), material=material)


class PyrenderRenderer:
    """Rasterising renderer (see module docstring).

    Args:
        znear: near clipping plane, metres (surfaces nearer are not drawn).
        zfar: far clipping plane, metres.
        ambient: ambient light level in [0, 1]; a head light (directional, along the
            camera axis) of ``head_light`` intensity adds shading.
        rgb: False skips the shaded pass (depth and segmentation only, faster).

    Raises:
        ImportError: pyrender / OpenGL unavailable (message names the packages).
    """

    name = "pyrender"
    outputs = ("rgb", "depth", "instance", "semantic")

    def __init__(self, znear: float = 0.02, zfar: float = 100.0, ambient: float = 0.35, head_light: float = 2.5,
                 rgb: bool = True):
        self.pyrender = import_pyrender()
        self.rgb = bool(rgb)
        self.znear, self.zfar = float(znear), float(zfar)
        self.ambient, self.head_light = float(ambient), float(head_light)
        self._scene: Scene | None = None
        self._renderer = None
        self._size = None

    def _prepare(self, scene: Scene) -> None:
        if self._scene is scene:
            return
        pr = self.pyrender
        colours = np.array([o.material.colour for o in scene.objects] or [[0.5] * 3], dtype=np.float64)
        fi = np.asarray(scene.face_instance, dtype=np.int64)
        face_rgb = np.concatenate([np.clip(colours[fi], 0, 1), np.ones((len(fi), 1))], axis=1)
        shaded = pr.MetallicRoughnessMaterial(baseColorFactor=[1.0] * 4, metallicFactor=0.0, roughnessFactor=0.8,
                                              doubleSided=True)
        flat = pr.MetallicRoughnessMaterial(baseColorFactor=[1.0] * 4, doubleSided=True)
        # Two scenes: shaded colours for rgb, instance ids as flat colours for segmentation.
        self._rgb_scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[self.ambient] * 3)
        self._rgb_scene.add(pr.Mesh([_flat_primitive(pr, scene.vertices, scene.faces, face_rgb, shaded)]))
        self._id_scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0])
        self._id_scene.add(pr.Mesh([_flat_primitive(pr, scene.vertices, scene.faces, _id_colour(fi), flat)]))
        self._light = pr.DirectionalLight(color=np.ones(3), intensity=self.head_light)
        self._light_node = self._rgb_scene.add(self._light, pose=np.eye(4))
        self._cam_nodes = []
        self._scene = scene
        self._base = person_id_base(scene)

    def _renderer_for(self, width: int, height: int):
        if self._size != (width, height):
            if self._renderer is not None:
                self._renderer.delete()
            try:
                self._renderer = self.pyrender.OffscreenRenderer(width, height)
            except Exception as e:
                raise ImportError(f"pyrender could not create a headless OpenGL context "
                                  f"(PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')}): {e}. "
                                  f"Install: {INSTALL_HINT}") from e
            self._size = (width, height)
        return self._renderer

    def render(self, frame: Frame) -> dict[str, np.ndarray]:
        """Render rgb (uint8), depth (planar z, m), instance and semantic of ``frame``.

        Raises:
            ValueError: for a fisheye camera.
        """
        cam = frame.camera
        if cam.model != "pinhole":
            raise ValueError("the pyrender engine draws pinhole cameras only; use engine 'raycast' "
                             "(geometry) or 'blender' (Cycles fisheye) for a fisheye rig")
        pr = self.pyrender
        self._prepare(frame.scene)
        scenes = (self._rgb_scene, self._id_scene) if self.rgb else (self._id_scene,)
        # OpenCV pixel centres are integers; GL's are at +0.5.
        camera = pr.IntrinsicsCamera(cam.fx, cam.fy, cam.cx + 0.5, cam.cy + 0.5, znear=self.znear, zfar=self.zfar)
        pose = frame.T_world_camera @ np.diag([1.0, -1.0, -1.0, 1.0])
        for sc, node in self._cam_nodes:
            sc.remove_node(node)
        self._cam_nodes = [(sc, sc.add(camera, pose=pose)) for sc in scenes]
        self._rgb_scene.set_pose(self._light_node, pose)
        added = []
        for b in frame.bodies:
            if not len(b.faces):
                continue
            v = b.vertices.astype(np.float32)
            idx = b.faces.astype(np.uint32)
            if self.rgb:
                colours = None
                if b.appearance is not None:
                    colours = np.concatenate([np.clip(b.appearance.vertex_colors, 0, 1),
                                              np.ones((len(v), 1))], axis=1).astype(np.float32)
                mat = pr.MetallicRoughnessMaterial(
                    baseColorFactor=[1.0] * 4 if colours is not None else [0.5, 0.5, 0.5, 1.0], metallicFactor=0.0,
                    roughnessFactor=b.appearance.roughness if b.appearance else 0.7, doubleSided=False)
                prim = pr.Primitive(positions=v, normals=vertex_normals(b.vertices, b.faces), color_0=colours,
                                    indices=idx, material=mat)
                added.append((self._rgb_scene, self._rgb_scene.add(pr.Mesh([prim]))))
            flat = pr.MetallicRoughnessMaterial(baseColorFactor=_id_colour(self._base + b.person_index).tolist(),
                                                doubleSided=False)
            added.append((self._id_scene, self._id_scene.add(pr.Mesh([pr.Primitive(positions=v, indices=idx,
                                                                                     material=flat)]))))
        try:
            r = self._renderer_for(cam.width, cam.height)
            seg, depth = r.render(self._id_scene, flags=pr.RenderFlags.FLAT)
            rgb = r.render(self._rgb_scene)[0] if self.rgb else None
        finally:
            for sc, node in added:
                sc.remove_node(node)
        instance = _decode_ids(seg)
        instance[depth <= 0] = BACKGROUND
        n_people = max((b.person_index for b in frame.bodies), default=-1) + 1
        semantic = instance_to_semantic(frame.scene, max(n_people, 1))[instance]
        out = {"depth": depth.astype(np.float32), "instance": instance.astype(np.int32),
               "semantic": semantic.astype(np.int32)}
        if rgb is not None:
            out["rgb"] = np.ascontiguousarray(rgb[..., :3])
        return out

    def close(self) -> None:
        """Release the OpenGL context."""
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None
            self._size = None
