"""Procedural Blender materials (no image textures) for scene objects and bodies, and
colour temperature of lights. Only called from :mod:`egogen.render.blender` (needs bpy).

Each scene ``Material(colour, pattern)`` becomes a Principled BSDF whose base colour is the
linear ``colour`` modulated by a pattern texture on world-space coordinates: planks and
wood grain (wave bands), tiles (brick texture with grout), fabric/carpet/linen (fine
noise), marble (distorted veins), plaster (multi-octave stucco noise), ceramic/metal/leaves/solid
(faint noise).

Only camera rays see that material. Every other ray (the one diffuse / glossy bounce of a
path) shades a plain Diffuse BSDF of the unpatterned colour: a Mix Shader switched by Light
Path "Is Camera Ray", so Cycles skips the pattern textures and the multi-lobe Principled BSDF
at the bounce (about 10-15 % of a frame's CPU time at 8 samples; the 8-sample image is as close
to a 128-sample one as before, PSNR 36.0 dB both, docs/render.md). What it changes: light
bounced off a surface carries its mean colour, not its pattern, and glossy surfaces reflect
plain-coloured (patternless, matte) surroundings.
"""

from __future__ import annotations

import numpy as np

#: pattern -> (texture kind, scale, contrast, roughness, metallic[, noise detail (octaves, default 3)])
PATTERNS = {
    "wood_planks": ("wave", 3.0, 0.25, 0.55, 0.0),
    "wood_grain": ("wave", 8.0, 0.18, 0.5, 0.0),
    "painted_wood": ("noise", 8.0, 0.06, 0.45, 0.0),
    "tiles": ("brick", 3.3, 0.25, 0.25, 0.0),
    "fabric_weave": ("noise", 120.0, 0.20, 0.9, 0.0),
    "linen": ("noise", 90.0, 0.12, 0.9, 0.0),
    "carpet": ("noise", 150.0, 0.25, 1.0, 0.0),
    "marble": ("marble", 2.0, 0.35, 0.15, 0.0),
    # textured plaster (stucco): multi-octave noise, visible up close. The first, faint
    # version (scale 6, contrast 0.05) left walls blank, so feature-based SfM / SLAM lost
    # track wherever a wall filled the view (docs/render.md, "COLMAP check").
    "plaster": ("noise", 10.0, 0.45, 0.9, 0.0, 10.0),
    "ceramic": ("noise", 4.0, 0.03, 0.1, 0.0),
    "brushed_metal": ("wave", 200.0, 0.08, 0.3, 0.9),
    "leaves": ("noise", 25.0, 0.35, 0.6, 0.0),
    "stripes": ("wave", 12.0, 0.35, 0.8, 0.0),
    "solid": ("noise", 1.0, 0.0, 0.6, 0.0),
}


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB (max channel 1) of a black body at ``kelvin`` (1000-40000 K), after
    Tanner Helland's fit of Mitchell Charity's blackbody table."""
    t = np.clip(kelvin, 1000, 40000) / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0, 1)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return tuple(float(x) for x in lin / lin.max())


def _pattern_factor(nt, kind: str, scale: float, coord, detail: float = 3.0):
    """Add a texture node chain; returns an output socket with values about in [0, 1]."""
    if kind == "wave":
        n = nt.nodes.new("ShaderNodeTexWave")
        n.wave_type = "BANDS"
        n.inputs["Scale"].default_value = scale
        n.inputs["Distortion"].default_value = 4.0
        n.inputs["Detail"].default_value = 2.0
    elif kind == "brick":
        n = nt.nodes.new("ShaderNodeTexBrick")
        n.inputs["Scale"].default_value = scale
        n.inputs["Mortar Size"].default_value = 0.015
        n.inputs["Color1"].default_value = (1, 1, 1, 1)
        n.inputs["Color2"].default_value = (0.9, 0.9, 0.9, 1)
        n.inputs["Mortar"].default_value = (0.3, 0.3, 0.3, 1)
        nt.links.new(coord, n.inputs["Vector"])
        return n.outputs["Color"]
    elif kind == "marble":
        n = nt.nodes.new("ShaderNodeTexWave")
        n.wave_type = "RINGS"
        n.inputs["Scale"].default_value = scale
        n.inputs["Distortion"].default_value = 12.0
        n.inputs["Detail"].default_value = 6.0
    else:
        n = nt.nodes.new("ShaderNodeTexNoise")
        n.inputs["Scale"].default_value = scale
        n.inputs["Detail"].default_value = detail
    nt.links.new(coord, n.inputs["Vector"])
    return n.outputs["Fac"]


def make_material(bpy, name: str, colour, pattern: str = "solid", vertex_colour: str | None = None,
                  roughness: float | None = None, camera_rays_only: bool = True):
    """A Principled BSDF material: ``colour`` (linear RGB) or the mesh's colour attribute
    ``vertex_colour``, modulated by the procedural ``pattern`` (unknown names: faint noise).
    ``diffuse_color`` is set too, for the Workbench engine. With ``camera_rays_only`` the
    Principled BSDF and its pattern shade camera rays only; other rays get a Diffuse BSDF of
    the unpatterned colour (module docstring)."""
    kind, scale, contrast, rough, metal, *more = PATTERNS.get(pattern, PATTERNS["plaster"])
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    c = tuple(float(x) for x in colour)
    mat.diffuse_color = (*c, 1.0)
    nt = mat.node_tree
    bsdf = nt.nodes.get("Principled BSDF") or nt.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = rough if roughness is None else roughness
    bsdf.inputs["Metallic"].default_value = metal
    if vertex_colour:
        attr = nt.nodes.new("ShaderNodeAttribute")
        attr.attribute_name = vertex_colour
        base = attr.outputs["Color"]
    else:
        rgb = nt.nodes.new("ShaderNodeRGB")
        rgb.outputs[0].default_value = (*c, 1.0)
        base = rgb.outputs[0]
    plain = base
    if contrast > 0:
        tc = nt.nodes.new("ShaderNodeTexCoord")
        fac = _pattern_factor(nt, kind, scale, tc.outputs["Object"], *more)
        # base * (1 - contrast/2 + contrast * fac)
        m = nt.nodes.new("ShaderNodeMath")
        m.operation = "MULTIPLY_ADD"
        m.inputs[1].default_value = contrast
        m.inputs[2].default_value = 1.0 - contrast / 2
        nt.links.new(fac, m.inputs[0])
        mix = nt.nodes.new("ShaderNodeVectorMath")
        mix.operation = "MULTIPLY"
        nt.links.new(base, mix.inputs[0])
        nt.links.new(m.outputs[0], mix.inputs[1])
        base = mix.outputs["Vector"]
    nt.links.new(base, bsdf.inputs["Base Color"])
    if camera_rays_only:
        # Mix Shader on "Is Camera Ray": Cycles evaluates only the branch of weight > 0,
        # so bounce rays skip the pattern nodes and the Principled BSDF
        out = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
        diffuse = nt.nodes.new("ShaderNodeBsdfDiffuse")
        nt.links.new(plain, diffuse.inputs["Color"])
        path = nt.nodes.new("ShaderNodeLightPath")
        switch = nt.nodes.new("ShaderNodeMixShader")
        nt.links.new(path.outputs["Is Camera Ray"], switch.inputs["Fac"])
        nt.links.new(diffuse.outputs["BSDF"], switch.inputs[1])
        nt.links.new(bsdf.outputs["BSDF"], switch.inputs[2])
        nt.links.new(switch.outputs["Shader"], out.inputs["Surface"])
    return mat
