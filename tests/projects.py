"""A real multi-file Blender project for tests: a main .blend, linked libraries, textures.

``build_project(root)`` runs this file as a bpy script under the repository's venv (bpy 5.3) and
returns where everything is, so a test can change one texture's colour, delete one, or trace and
render the project. The scene is made to render the same pixels anywhere: emission-only
materials, no lights, a black world, Cycles at 64x48 with a few samples and a fixed seed, an
orthographic camera looking straight down at a row of planes.

Layout under ``root``::

    project/                      the project root (``Project.root``)
      shot.blend                  the main file: links lib/lib.blend and lib/base.blend
      textures/wood.png           relative texture ("//textures/wood.png")
      textures/udim/tile.1001.png, tile.1002.png     a UDIM set ("tile.<UDIM>.png")
      textures/seq/frame_0001.png .. frame_0003.png  an image sequence (one image a frame)
      textures/base.png           used by base.blend ("//../textures/base.png")
      fonts/DejaVuSansMono.woff2  the text object's font (copied from bpy's datafiles)
      lib/lib.blend               a library with its own texture, that itself links base.blend
      lib/tex/lib_tex.png         lib.blend's texture ("//tex/lib_tex.png")
      lib/base.blend              a library linked twice over (by shot.blend and by lib.blend)
    shared/outside.png            an absolute-path texture outside the project
                                  (``Project.outside_dir``)
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
#: Starting bpy and saving three files takes a few seconds.
_BUILD_TIMEOUT_S = 180

WIDTH, HEIGHT = 64, 48
FRAMES = 3
#: Each texture's colour (RGB, 0..1): distinct, so a render shows which one is where.
COLOURS: dict[str, tuple[float, float, float]] = {
    "wood": (0.8, 0.4, 0.1),
    "udim_1001": (0.1, 0.8, 0.2),
    "udim_1002": (0.1, 0.2, 0.9),
    "seq_1": (0.9, 0.1, 0.1),
    "seq_2": (0.1, 0.9, 0.1),
    "seq_3": (0.1, 0.1, 0.9),
    "base": (0.9, 0.9, 0.1),
    "lib_tex": (0.1, 0.9, 0.9),
    # Not magenta: that is what Blender renders for a missing image.
    "outside": (0.4, 0.5, 0.1),
}


@dataclass(frozen=True, kw_only=True)
class Project:
    """Where a built project's files are (every path absolute)."""

    root: Path
    main: Path
    #: Each texture by its key in COLOURS.
    textures: dict[str, Path]
    #: Library .blend files: "lib" (lib/lib.blend) and "base" (lib/base.blend).
    libraries: dict[str, Path]
    font: Path
    #: The folder outside the project that holds the absolute-path texture.
    outside_dir: Path

    def project_path(self, path: Path) -> str:
        """A file's path in the project, as the farm names it (outside files are not in it)."""
        return path.relative_to(self.root).as_posix()


def layout(root: Path) -> Project:
    project = root / "project"
    textures = project / "textures"
    return Project(
        root=project,
        main=project / "shot.blend",
        textures={
            "wood": textures / "wood.png",
            "udim_1001": textures / "udim" / "tile.1001.png",
            "udim_1002": textures / "udim" / "tile.1002.png",
            "seq_1": textures / "seq" / "frame_0001.png",
            "seq_2": textures / "seq" / "frame_0002.png",
            "seq_3": textures / "seq" / "frame_0003.png",
            "base": textures / "base.png",
            "lib_tex": project / "lib" / "tex" / "lib_tex.png",
            "outside": root / "shared" / "outside.png",
        },
        libraries={"lib": project / "lib" / "lib.blend", "base": project / "lib" / "base.blend"},
        font=project / "fonts" / "DejaVuSansMono.woff2",
        outside_dir=root / "shared",
    )


def build_project(root: Path, *, python: Path = PYTHON) -> Project:
    """Build the project under ``root`` with ``python``'s bpy (a few seconds)."""
    done = subprocess.run(
        [str(python), str(Path(__file__).resolve()), str(root)],
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the project failed:\n{done.stdout}\n{done.stderr}")
    return layout(root)


def write_png(path: Path, colour: tuple[float, float, float], *, python: Path = PYTHON) -> None:
    """Overwrite one texture with a flat colour (e.g. to change it between two submits)."""
    script = (
        "import bpy, json, sys\n"
        "path, rgb = sys.argv[-2], json.loads(sys.argv[-1])\n"
        "image = bpy.data.images.new('t', 4, 4)\n"
        "image.pixels = [*rgb, 1.0] * 16\n"
        "image.filepath_raw = path\n"
        "image.file_format = 'PNG'\n"
        "image.save()\n"
    )
    subprocess.run(
        [str(python), "-c", script, str(path), json.dumps(list(colour))],
        capture_output=True,
        timeout=_BUILD_TIMEOUT_S,
        check=True,
    )


# The bpy side: runs only as a script, under a Python whose bpy is importable.


def _bpy() -> Any:
    import bpy  # noqa: PLC0415 (only the script imports bpy)

    return bpy


def _png(path: Path, colour: tuple[float, float, float]) -> None:
    bpy = _bpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.new(path.stem, 4, 4)
    image.pixels = [*colour, 1.0] * 16
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def _plane(name: str, x: float, *, u_max: float = 1.0) -> Any:
    bpy = _bpy()
    mesh = bpy.data.meshes.new(name)
    half = 0.45
    mesh.from_pydata(
        [(x - half, -half, 0), (x + half, -half, 0), (x + half, half, 0), (x - half, half, 0)],
        [],
        [(0, 1, 2, 3)],
    )
    uv = mesh.uv_layers.new(name="UVMap")
    for loop, (u, v) in zip(uv.data, [(0, 0), (u_max, 0), (u_max, 1), (0, 1)], strict=True):
        loop.uv = (u, v)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _emission(name: str, image: Any | None, colour: tuple[float, float, float] = (1, 1, 1)) -> Any:
    bpy = _bpy()
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    output = nodes.new("ShaderNodeOutputMaterial")
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (*colour, 1.0)
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    if image is not None:
        texture = nodes.new("ShaderNodeTexImage")
        texture.image = image
        texture.interpolation = "Closest"
        if image.source == "SEQUENCE":
            texture.image_user.frame_duration = FRAMES
            texture.image_user.frame_start = 1
            texture.image_user.use_auto_refresh = True
        links.new(texture.outputs["Color"], emission.inputs["Color"])
    return material


def _textured_plane(name: str, x: float, filepath: str, **kwargs: Any) -> Any:
    bpy = _bpy()
    source = kwargs.pop("source", "FILE")
    image = bpy.data.images.new(name, 4, 4)
    image.source = source
    image.filepath = filepath
    if source == "TILED":
        image.tiles.new(tile_number=1002)
    obj = _plane(name, x, **kwargs)
    obj.data.materials.append(_emission(name, image))
    return obj


def _fresh(path: Path) -> None:
    """An empty file saved at ``path`` first, so that '//' paths resolve against it."""
    bpy = _bpy()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))


def _link_relpath(library: Path, names: list[str], blend: Path) -> None:
    bpy = _bpy()
    with bpy.data.libraries.load(str(library), link=True, relative=True) as (_, into):
        into.objects = names
    for obj in into.objects:
        bpy.context.scene.collection.objects.link(obj)
    relative = Path(_relpath(library, blend.parent))
    for lib in bpy.data.libraries:
        if Path(bpy.path.abspath(lib.filepath)).resolve() == library.resolve():
            lib.filepath = "//" + relative.as_posix()


def _relpath(path: Path, start: Path) -> str:
    import os  # noqa: PLC0415

    return os.path.relpath(path, start)


def _save() -> None:
    _bpy().ops.wm.save_mainfile()


def _camera_and_render() -> None:
    bpy = _bpy()
    scene = bpy.context.scene
    data = bpy.data.cameras.new("Camera")
    data.type = "ORTHO"
    data.ortho_scale = 8.0
    camera = bpy.data.objects.new("Camera", data)
    camera.location = (0.0, 0.0, 10.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    world = bpy.data.worlds.new("Black")
    world.color = (0.0, 0.0, 0.0)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.seed = 0
    scene.cycles.use_denoising = False
    scene.cycles.device = "CPU"
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    # Colours come out as the textures hold them (AgX, the default, shifts them), so a test
    # can find each texture in a frame by its colour.
    scene.view_settings.view_transform = "Standard"
    scene.frame_start, scene.frame_end = 1, FRAMES


def _font(path: Path) -> None:
    import shutil  # noqa: PLC0415

    bpy = _bpy()
    fonts = Path(bpy.utils.resource_path("LOCAL")) / "datafiles" / "fonts"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fonts / "DejaVuSansMono.woff2", path)
    font = bpy.data.fonts.load(str(path))
    font.filepath = "//fonts/" + path.name
    curve = bpy.data.curves.new("Text", type="FONT")
    curve.body = "A"
    curve.font = font
    curve.size = 0.8
    text = bpy.data.objects.new("Text", curve)
    text.location = (3.0, -1.6, 0.0)
    curve.materials.append(_emission("Text", None, (1.0, 1.0, 1.0)))
    bpy.context.scene.collection.objects.link(text)


def make(root: Path) -> None:
    project = layout(root)
    for key, path in project.textures.items():
        _png(path, COLOURS[key])

    base = project.libraries["base"]
    _fresh(base)
    _textured_plane("BasePlane", -1.0, "//../textures/base.png")
    bpy = _bpy()
    bpy.data.objects["BasePlane"].location = (0.0, 1.2, 0.0)
    _save()

    lib = project.libraries["lib"]
    _fresh(lib)
    _textured_plane("LibPlane", 1.0, "//tex/lib_tex.png")
    bpy.data.objects["LibPlane"].location = (0.0, 1.2, 0.0)
    _link_relpath(base, ["BasePlane"], lib)
    _save()

    main = project.main
    _fresh(main)
    _camera_and_render()
    _textured_plane("Wood", -3.0, "//textures/wood.png")
    _textured_plane("Udim", -2.0, "//textures/udim/tile.<UDIM>.png", source="TILED", u_max=2.0)
    _textured_plane("Sequence", -1.0, "//textures/seq/frame_0001.png", source="SEQUENCE")
    _textured_plane("Outside", 0.0, str(project.textures["outside"]))
    _link_relpath(lib, ["LibPlane"], main)
    _link_relpath(base, ["BasePlane"], main)
    _font(project.font)
    _save()


if __name__ == "__main__":
    make(Path(sys.argv[1]).resolve())
    sys.exit(0)
