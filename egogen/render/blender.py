"""``blender`` engine: Cycles (default) or Workbench through Blender as a Python module.

Blender (``bpy`` 5.0.1, Python 3.11) is an optional extra and is imported lazily; without
it :func:`import_bpy` raises ImportError naming ``pip install 'egogen[render]'``.

The scene is built once per :class:`Scene`: one Blender object per scene object (its
``pass_index`` = instance id + 1, so the object-index pass gives instance ids), procedural
materials from ``Material(colour, pattern)`` (:mod:`egogen.render.blender_materials`; the
pattern and the Principled BSDF shade camera rays only, bounce rays a plain diffuse colour), a
point light per room with intensity and colour temperature drawn from ``Frame.seed``, and
a uniform world light. People are one mesh object per person index, updated in place each
frame (vertex positions, colour attribute ``egogen_colour`` from ``BodyAppearance``).

Camera (DESIGN.md mapping, with OpenCV integer pixel centres moved to Blender's +0.5):
``sensor_fit = HORIZONTAL``, ``lens = fx * sensor_width / W``, ``shift_x = (W/2 - cx')/W``,
``shift_y = (cy' - H/2)/W`` with ``cx' = cx + 0.5``, ``cy' = cy + 0.5``; pose
``T_world_camera @ diag(1, -1, -1, 1)``. Pinhole needs fx = fy. Fisheye (Cycles only) uses
Blender's ``FISHEYE_LENS_POLYNOMIAL`` panorama, theta = -(k0 + k1 r + ... + k4 r^4) with r
in sensor millimetres, fitted to the OpenCV fisheye model (exact for equidistant k = 0),
with the same shift for the principal point (tested against the ray caster). Cycles reports Euclidean distance for
panoramic cameras, which is converted to planar depth here.

Passes come back through one multilayer EXR per frame (``media_type =
"MULTI_LAYER_IMAGE"``, read with OpenEXR): Combined -> rgb (linear -> sRGB, uint8), Depth
-> planar depth (background 1e10 -> 0), Normal (world) -> camera-frame normals, Object
Index -> instance. Cycles samples each pixel at its centre (pixel filter width 0.01 px) so
that depth, normals and ids are exact per-pixel values like the other engines (RGB is not
anti-aliased); the sampling seed is fixed, so the same frame renders to the same bytes.
Workbench gives rgb + depth from one pass and instance ids from a second flat-coloured pass
(object colour = id); it has no normal pass.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from egogen.render.camera import CameraModel
from egogen.render.exr import read_multilayer_exr
from egogen.render.frame import Frame, camera_frame_normals
from egogen.render.labels import BACKGROUND, instance_to_semantic, person_id_base
from egogen.scene.model import Scene

INSTALL_HINT = "pip install 'egogen[render]'"
ENGINES = {"cycles": "CYCLES", "workbench": "BLENDER_WORKBENCH"}
SENSOR_WIDTH_MM = 36.0
COLOUR_ATTR = "egogen_colour"


def import_bpy():
    """Import Blender's Python module.

    Raises:
        ImportError: bpy is not installed; the message names ``pip install 'egogen[render]'``
            (bpy 5.0.1 wheels exist for Python 3.11 only).
    """
    try:
        import bpy
    except ImportError as e:
        raise ImportError("the blender engine needs Blender as a Python module (bpy 5.0.1, Python 3.11): "
                          f"{INSTALL_HINT}") from e
    return bpy


def linear_to_srgb8(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) linear float -> uint8 sRGB (clipped)."""
    x = np.clip(rgb, 0, 1)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(s * 255).astype(np.uint8)


def fisheye_polynomial(camera: CameraModel, sensor_width_mm: float = SENSOR_WIDTH_MM) -> np.ndarray:
    """(5,) Blender ``fisheye_polynomial_k0..k4`` of an OpenCV fisheye camera.

    Blender maps sensor radius r (mm) to the angle off the axis as theta = -(k0 + k1 r +
    k2 r^2 + k3 r^3 + k4 r^4). OpenCV's theta_d(theta) is inverted numerically on the image
    and fitted by least squares (exact for the equidistant model, k1..k4 = 0).
    """
    mm_per_px = sensor_width_mm / camera.width
    r_px_max = np.hypot(max(camera.cx, camera.width - camera.cx), max(camera.cy, camera.height - camera.cy))
    r_px = np.linspace(0, r_px_max, 200)
    rays = camera.unproject(np.stack([camera.cx + r_px, np.full_like(r_px, camera.cy)], axis=-1))
    theta = np.arctan2(np.hypot(rays[:, 0], rays[:, 1]), rays[:, 2])
    r_mm = r_px * mm_per_px
    if not any(camera.k):
        return np.array([0.0, -1.0 / (camera.fx * mm_per_px), 0.0, 0.0, 0.0])
    A = np.stack([r_mm ** i for i in range(5)], axis=1)
    return -np.linalg.lstsq(A, theta, rcond=None)[0]


class BlenderRenderer:
    """Blender renderer (see module docstring).

    Args:
        engine: ``"cycles"`` (path tracing; rgb, depth, normal, instance, semantic) or
            ``"workbench"`` (fast rasteriser; rgb, depth, instance, semantic).
        samples: Cycles samples per pixel.
        denoise: Cycles OpenImageDenoise when the build has it.
        device: ``"auto"`` (GPU via OptiX/CUDA/HIP/oneAPI when present, else CPU), ``"cpu"``
            or ``"gpu"``.
        threads: CPU threads for Cycles (0 = all).
        light_power: (min, max) watts of each room's point light.
        light_kelvin: (min, max) colour temperature of the lights, K.

    Raises:
        ImportError: bpy (or OpenEXR) missing.
        ValueError: unknown engine.
    """

    def __init__(self, engine: str = "cycles", samples: int = 8, denoise: bool = True, device: str = "auto",
                 threads: int = 0, light_power: tuple[float, float] = (40.0, 120.0),
                 light_kelvin: tuple[float, float] = (2700.0, 6500.0)):
        if engine not in ENGINES:
            raise ValueError(f"unknown blender engine {engine!r}; use one of {sorted(ENGINES)}")
        self.bpy = import_bpy()
        read_multilayer_exr  # noqa: B018  (OpenEXR is imported on first read)
        self.engine = engine
        self.name = engine
        self.outputs = ("rgb", "depth", "normal", "instance", "semantic") if engine == "cycles" else \
            ("rgb", "depth", "instance", "semantic")
        self.samples, self.denoise, self.device, self.threads = int(samples), bool(denoise), device, int(threads)
        self.light_power, self.light_kelvin = light_power, light_kelvin
        self._scene: Scene | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="egogen-blender-"))
        self._bodies: dict[int, object] = {}
        self._light_seed = None
        self.gpu = False

    # ------------------------------------------------------------------ scene set-up
    def _prepare(self, scene: Scene) -> None:
        if self._scene is scene:
            return
        bpy = self.bpy
        from egogen.render.blender_materials import make_material

        bpy.ops.wm.read_factory_settings(use_empty=True)
        self._bodies = {}
        self._light_seed = None
        bs = bpy.context.scene
        self._bs = bs
        self._setup_render(bs)
        materials = {}
        col = bs.collection
        fi = np.asarray(scene.face_instance)
        for o in scene.objects:
            fmask = fi == o.instance_id
            if not fmask.any():
                continue
            faces = scene.faces[fmask]
            used, inv = np.unique(faces, return_inverse=True)
            me = bpy.data.meshes.new(f"{o.instance_id:04d}_{o.label}")
            me.from_pydata(scene.vertices[used].tolist(), [], inv.reshape(-1, 3).tolist())
            attr = me.color_attributes.new(COLOUR_ATTR, "FLOAT_COLOR", "POINT")
            attr.data.foreach_set("color", np.tile([*o.material.colour, 1.0], len(used)).astype(np.float32))
            key = (tuple(o.material.colour), o.material.pattern)
            if key not in materials:
                materials[key] = make_material(bpy, f"m{len(materials)}", o.material.colour, o.material.pattern)
            me.materials.append(materials[key])
            ob = bpy.data.objects.new(me.name, me)
            ob.pass_index = o.instance_id + 1
            col.objects.link(ob)
        # lights: one per room (or one above the middle of an imported scene)
        self._lights = []
        lo, hi = scene.bounds
        spots = [((r.rect[0] + r.rect[2]) / 2, (r.rect[1] + r.rect[3]) / 2) for r in scene.rooms] or \
            [((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)]
        top = float(hi[2]) - 0.35 if scene.rooms else float(hi[2]) + 1.0
        for i, (x, y) in enumerate(spots):
            ld = bpy.data.lights.new(f"light{i}", "POINT")
            ld.shadow_soft_size = 0.25
            lo_ = bpy.data.objects.new(f"light{i}", ld)
            lo_.location = (x, y, top)
            col.objects.link(lo_)
            self._lights.append(ld)
        world = bpy.data.worlds.new("world")
        world.use_nodes = True
        self._world_bg = world.node_tree.nodes.get("Background")
        bs.world = world
        cd = bpy.data.cameras.new("camera")
        cd.clip_start, cd.clip_end = 0.01, 1000.0
        self._cam = bpy.data.objects.new("camera", cd)
        col.objects.link(self._cam)
        bs.camera = self._cam
        self._scene = scene
        self._base = person_id_base(scene)

    def _setup_render(self, bs) -> None:
        bs.render.engine = ENGINES[self.engine]
        bs.render.use_persistent_data = True
        bs.render.use_compositing = False  # passes go straight to the EXR
        bs.render.use_sequencer = False
        bs.render.image_settings.media_type = "MULTI_LAYER_IMAGE"  # Blender 5: before file_format
        bs.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
        bs.render.image_settings.color_depth = "32"
        bs.render.image_settings.exr_codec = "NONE"  # a temporary file: no compression time
        bs.view_settings.view_transform = "Standard"
        vl = bs.view_layers[0]
        vl.use_pass_z = True
        if self.engine == "cycles":
            vl.use_pass_normal = True
            vl.use_pass_object_index = True
            cy = bs.cycles
            cy.samples = self.samples
            cy.use_adaptive_sampling = False
            cy.seed = 0
            cy.use_animated_seed = False
            cy.filter_width = 0.01
            # few bounces: indoor light paths are the cost on CPU. One bounce (diffuse or
            # glossy) after the first hit; lights sampled without the light tree (a handful
            # of point lights: the tree costs more than it saves at 8 samples)
            cy.max_bounces, cy.diffuse_bounces, cy.glossy_bounces = 1, 1, 1
            cy.transmission_bounces, cy.transparent_max_bounces = 0, 2
            cy.caustics_reflective = cy.caustics_refractive = False
            cy.use_light_tree = False
            bs.render.film_transparent = False
            if self.threads:
                bs.render.threads_mode = "FIXED"
                bs.render.threads = self.threads
            cy.use_denoising = False
            if self.denoise:
                try:
                    cy.denoiser = "OPENIMAGEDENOISE"
                    cy.use_denoising = True
                    cy.denoising_prefilter = "FAST"  # albedo/normal guides used as rendered
                except (TypeError, AttributeError):
                    cy.use_denoising = False
            cy.device = "GPU" if self._enable_gpu() else "CPU"
        else:
            sh = bs.display.shading
            sh.light = "STUDIO"
            sh.color_type = "VERTEX"
            bs.display.render_aa = "OFF"

    def _enable_gpu(self) -> bool:
        if self.device == "cpu":
            return False
        try:
            prefs = self.bpy.context.preferences.addons["cycles"].preferences
            for kind in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
                try:
                    prefs.compute_device_type = kind
                except TypeError:
                    continue
                prefs.get_devices()
                gpus = [d for d in prefs.devices if d.type == kind]
                if gpus:
                    for d in prefs.devices:
                        d.use = d.type == kind
                    self.gpu = True
                    return True
        except (KeyError, AttributeError, RuntimeError):
            pass
        if self.device == "gpu":
            raise RuntimeError("device='gpu' asked for, but Blender found no OptiX/CUDA/HIP/oneAPI/Metal device")
        return False

    def _set_lights(self, seed: int) -> None:
        if seed == self._light_seed:
            return
        from egogen.render.blender_materials import kelvin_to_rgb

        rng = np.random.default_rng(seed)
        for ld in self._lights:
            ld.energy = float(rng.uniform(*self.light_power))
            ld.color = kelvin_to_rgb(float(rng.uniform(*self.light_kelvin)))
        if self._world_bg is not None:
            w = kelvin_to_rgb(float(rng.uniform(5000, 9000)))
            self._world_bg.inputs["Color"].default_value = (*w, 1.0)
            self._world_bg.inputs["Strength"].default_value = float(rng.uniform(0.15, 0.4))
        self._light_seed = seed

    def _set_camera(self, camera: CameraModel, T_world_camera: np.ndarray) -> None:
        from mathutils import Matrix

        bs, cd = self._bs, self._cam.data
        W, H = camera.width, camera.height
        bs.render.resolution_x, bs.render.resolution_y = W, H
        bs.render.resolution_percentage = 100
        bs.render.pixel_aspect_x = bs.render.pixel_aspect_y = 1.0
        cd.sensor_fit = "HORIZONTAL"
        cd.sensor_width = SENSOR_WIDTH_MM
        if camera.model == "pinhole":
            if abs(camera.fx - camera.fy) > 1e-6 * camera.fx:
                raise ValueError("the blender engine needs square pixels (fx == fy)")
            cd.type = "PERSP"
            cd.lens = camera.fx * SENSOR_WIDTH_MM / W
            cd.shift_x = (W / 2 - (camera.cx + 0.5)) / W
            cd.shift_y = ((camera.cy + 0.5) - H / 2) / W
        else:
            if self.engine != "cycles":
                raise ValueError("fisheye cameras need the Cycles engine (Workbench draws pinhole only)")
            if abs(camera.fx - camera.fy) > 1e-6 * camera.fx:
                raise ValueError("the blender fisheye needs fx == fy")
            cd.type = "PANO"
            cd.panorama_type = "FISHEYE_LENS_POLYNOMIAL"
            cd.sensor_height = SENSOR_WIDTH_MM * H / W
            cd.shift_x = (W / 2 - (camera.cx + 0.5)) / W
            cd.shift_y = ((camera.cy + 0.5) - H / 2) / W
            for i, k in enumerate(fisheye_polynomial(camera)):
                setattr(cd, f"fisheye_polynomial_k{i}", float(k))
        self._cam.matrix_world = Matrix((T_world_camera @ np.diag([1.0, -1.0, -1.0, 1.0])).tolist())

    def _set_bodies(self, frame: Frame) -> None:
        bpy = self.bpy
        from egogen.render.blender_materials import make_material

        seen = set()
        for b in frame.bodies:
            k = b.person_index
            seen.add(k)
            ob = self._bodies.get(k)
            sig = (len(b.vertices), b.faces.shape[0], hash(b.faces[:: max(1, len(b.faces) // 64)].tobytes()))
            if ob is None or ob["egogen_sig"] != str(sig):
                me = bpy.data.meshes.new(f"person{k}")
                me.from_pydata(b.vertices.tolist(), [], b.faces.tolist())
                me.color_attributes.new(COLOUR_ATTR, "FLOAT_COLOR", "POINT")
                me.polygons.foreach_set("use_smooth", np.ones(len(b.faces), dtype=bool))
                app = b.appearance
                mat = make_material(bpy, f"person{k}", (0.5, 0.5, 0.5), app.pattern if app else "solid",
                                    vertex_colour=COLOUR_ATTR, roughness=app.roughness if app else 0.6)
                me.materials.append(mat)
                if ob is None:
                    ob = bpy.data.objects.new(f"person{k}", me)
                    self._bs.collection.objects.link(ob)
                    self._bodies[k] = ob
                else:
                    old = ob.data
                    ob.data = me
                    bpy.data.meshes.remove(old)
                ob["egogen_sig"] = str(sig)
                ob.pass_index = self._base + k + 1
            me = ob.data
            me.vertices.foreach_set("co", np.ascontiguousarray(b.vertices, dtype=np.float32).reshape(-1))
            colours = np.full((len(b.vertices), 4), 0.5, dtype=np.float32)
            colours[:, 3] = 1.0
            if b.appearance is not None:
                colours[:, :3] = b.appearance.vertex_colors
            me.color_attributes[COLOUR_ATTR].data.foreach_set("color", colours.reshape(-1))
            me.update()
            ob.hide_render = False
        for k, ob in self._bodies.items():
            if k not in seen:
                ob.hide_render = True

    # ------------------------------------------------------------------ rendering
    def _render_exr(self, name: str) -> dict[str, np.ndarray]:
        path = self._tmp / f"{name}.exr"
        self._bs.render.filepath = str(path)
        self.bpy.ops.render.render(write_still=True)
        passes = read_multilayer_exr(path)
        path.unlink(missing_ok=True)
        return passes

    def _workbench_ids(self) -> np.ndarray:
        sh = self._bs.display.shading
        obs = [o for o in self._bs.objects if o.type == "MESH" and not o.hide_render]
        for o in obs:
            k = o.pass_index  # instance id + 1
            o.color = ((k & 255) / 255, ((k >> 8) & 255) / 255, ((k >> 16) & 255) / 255, 1.0)
        sh.light, sh.color_type = "FLAT", "OBJECT"
        try:
            c = self._render_exr("ids")["Combined"]
        finally:
            sh.light, sh.color_type = "STUDIO", "VERTEX"
        b = np.round(np.clip(c[..., :3], 0, 1) * 255).astype(np.int64)
        return (b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)) - 1

    def render(self, frame: Frame) -> dict[str, np.ndarray]:
        """Render ``frame``; the streams of :mod:`egogen.render.frame` listed in ``outputs``.

        Raises:
            ValueError: a camera this engine cannot draw (see module docstring).
        """
        self._prepare(frame.scene)
        self._set_camera(frame.camera, frame.T_world_camera)
        self._set_lights(frame.seed)
        self._set_bodies(frame)
        passes = self._render_exr("frame")
        cam = frame.camera
        z = passes["Depth"][..., 0].astype(np.float64)
        valid = np.isfinite(z) & (z < 1e9) & (z > 0)
        from egogen.render.raycast import pixel_rays

        rays = pixel_rays(cam)
        if cam.model != "pinhole":  # panoramic cameras report distance along the ray
            z = z * rays[..., 2]
        depth = np.where(valid, z, 0.0).astype(np.float32)
        out = {"rgb": linear_to_srgb8(passes["Combined"][..., :3]), "depth": depth}
        if self.engine == "cycles":
            out["normal"] = camera_frame_normals(passes["Normal"], rays, frame.T_world_camera[:3, :3], valid)
            instance = np.round(passes["Object Index"][..., 0]).astype(np.int64) - 1
        else:
            instance = self._workbench_ids()
        instance[~valid] = BACKGROUND
        n_people = max((b.person_index for b in frame.bodies), default=-1) + 1
        out["instance"] = instance.astype(np.int32)
        out["semantic"] = instance_to_semantic(frame.scene, max(n_people, 1))[instance].astype(np.int32)
        return out

    def close(self) -> None:
        """Remove the temporary EXR folder (the Blender session stays loaded)."""
        shutil.rmtree(self._tmp, ignore_errors=True)
