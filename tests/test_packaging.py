"""The PyInstaller build bundles every file the app loads at run time."""

import ast
import re
from pathlib import Path

from flimage_app.resources import RUNTIME_RESOURCES, icon_path, resources_dir

ROOT = Path(__file__).resolve().parents[1]


def source_texts():
    for path in sorted((ROOT / "flimage_app").rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def test_runtime_resources_exist():
    for name in RUNTIME_RESOURCES:
        assert (resources_dir() / name).is_file(), name
    assert icon_path().is_file()


def test_every_resource_the_code_names_is_bundled():
    # a file of resources/ whose name appears in the code is loaded at run time
    bundled = set(RUNTIME_RESOURCES)
    for resource in resources_dir().iterdir():
        for path, text in source_texts():
            if path.name == "resources.py":
                continue
            if re.search(rf"[\"']{re.escape(resource.name)}[\"']", text):
                assert resource.name in bundled, (
                    f"{path.relative_to(ROOT)} loads {resource.name}; add it to "
                    "flimage_app.resources.RUNTIME_RESOURCES so that flimage.spec bundles it")


def test_spec_bundles_the_runtime_resources():
    spec = (ROOT / "flimage.spec").read_text(encoding="utf-8")
    tree = ast.parse(spec)
    analysis = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Analysis"]
    assert len(analysis) == 1
    keywords = {kw.arg: kw.value for kw in analysis[0].keywords}
    assert isinstance(keywords["datas"], ast.Name) and keywords["datas"].id == "datas"
    assert "for name in RUNTIME_RESOURCES" in spec
    assert "flimage_launcher.py" in spec and (ROOT / "flimage_launcher.py").is_file()


def test_desktop_entry_names_the_command_and_icon():
    entry = (ROOT / "resources" / "flimage-app.desktop").read_text(encoding="utf-8")
    assert "Exec=flimage-app %F" in entry and "Icon=flimage-app" in entry
    assert "MimeType=" in entry and "image/tiff" in entry
