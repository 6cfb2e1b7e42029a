"""Every ``flimage_app.…`` name the README and ARCHITECTURE give exists where they say."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"`(flimage_app(?:\.\w+)+)")


def named(document: str) -> list[str]:
    return sorted(set(NAME.findall((ROOT / document).read_text(encoding="utf-8"))))


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@pytest.mark.parametrize("document", ["README.md", "docs/ARCHITECTURE.md"])
def test_documented_names_exist(document):
    names = named(document)
    assert names
    assert [name for name in names if not resolves(name)] == []


def test_scripting_names_reapply_where_it_lives():
    assert "flimage_app.model.recipes.reapply" in named("README.md")
