"""ROI masks as ImageJ makes them, to check the app's pixel rule "as in Fiji".

ImageJ (1.53t, Debian's ``imagej`` package) runs headless on a macro that
draws each case on a blank image, fills it and prints the pixels.  The cases:

* polygons whose vertices lie on the half-pixel grid, so that edges and
  vertices pass through pixel centres (the tie rule matters);
* ovals and rectangles with sub-pixel bounds, as an ImageJ ``.roi`` file
  stores them (the app imports them; ImageJ measures them on whole-pixel
  bounds).

``python -m tests.imagej_masks`` regenerates ``tests/data/imagej_masks.json``
(parameters and ImageJ's masks, bit-packed) from the installed ImageJ.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

STORED = Path(__file__).parent / "data" / "imagej_masks.json"
IMAGE_SHAPE = (24, 32)  # rows, columns
JAR_CANDIDATES = ("/usr/share/java/ij.jar", "/usr/share/imagej/ij.jar")


def imagej_command() -> list[str] | None:
    """The command that runs an ImageJ macro headless, or None without Java or ImageJ."""
    java = shutil.which("java")
    jars = [os.environ.get("IMAGEJ_JAR", ""), *JAR_CANDIDATES]
    jar = next((path for path in jars if path and Path(path).is_file()), None)
    if java is None or jar is None:
        return None
    return [java, "-Djava.awt.headless=true", "-cp", jar, "ij.ImageJ", "-batch"]


def generated_cases(seed: int = 20_26_12_01, count: int = 60) -> list[dict]:
    """Polygons on the half-pixel grid, and sub-pixel ovals and rectangles."""
    rng = np.random.default_rng(seed)
    rows, cols = IMAGE_SHAPE
    cases: list[dict] = [
        # an axis-aligned square and a diamond through pixel centres
        {"kind": "polygon", "points": [[2.5, 2.5], [10.5, 2.5], [10.5, 8.5], [2.5, 8.5]]},
        {"kind": "polygon", "points": [[12.5, 1.5], [20.5, 9.5], [12.5, 17.5], [4.5, 9.5]]},
    ]
    for _ in range(count):
        vertices = int(rng.integers(3, 9))
        points = np.round(rng.uniform([0, 0], [cols, rows], (vertices, 2)) * 2) / 2
        cases.append({"kind": "polygon", "points": points.tolist()})
    for kind in ("oval", "rectangle"):
        for _ in range(count // 2):
            x, y = np.round(rng.uniform(-4, [cols - 6, rows - 6]), 2)
            width, height = np.round(rng.uniform(0.6, [cols / 2, rows / 2]), 2)
            cases.append({"kind": kind, "bounds": [float(x), float(y), float(width),
                                                   float(height)]})
    return cases


def decimal_polygons(seed: int = 1, count: int = 150) -> list[dict]:
    """Polygons with decimal vertices (e.g. x = 10.4) that put centres on edges only exactly."""
    rng = np.random.default_rng(seed)
    cases = []
    for index in range(count):
        grid = (0.5, 0.25, 1.0)[index % 3]
        points = np.round(rng.uniform(1, 23, (int(rng.integers(3, 8)), 2)) / grid) * grid
        points[:, 0] = np.clip(points[:, 0] * 1.3, 0, 31)
        cases.append({"kind": "polygon", "points": points.tolist()})
    return cases


def _number(value: float) -> str:
    return repr(float(value))


def macro(cases: list[dict]) -> str:
    """An ImageJ macro that prints ``#<index>`` and then the filled mask, row by row."""
    rows, cols = IMAGE_SHAPE
    lines = ["function dump(label) {",
             '  print("#" + label);',
             "  for (y = 0; y < getHeight(); y++) {",
             '    s = "";',
             "    for (x = 0; x < getWidth(); x++) {",
             '      if (getPixel(x, y) > 0) s = s + "1"; else s = s + "0";',
             "    }",
             "    print(s);",
             "  }",
             "}",
             'print("@version " + getVersion());']
    for index, case in enumerate(cases):
        lines.append(f'newImage("case{index}", "8-bit black", {cols}, {rows}, 1);')
        if case["kind"] == "polygon":
            xs = ", ".join(_number(x) for x, _ in case["points"])
            ys = ", ".join(_number(y) for _, y in case["points"])
            lines.append(f'makeSelection("polygon", newArray({xs}), newArray({ys}));')
        else:
            command = "makeOval" if case["kind"] == "oval" else "makeRectangle"
            lines.append(f'{command}({", ".join(_number(v) for v in case["bounds"])});')
        lines.append(f'setColor(255); fill(); dump("{index}"); close();')
    return "\n".join(lines) + "\n"


def run_imagej(cases: list[dict], command: list[str]) -> tuple[list[np.ndarray], str]:
    """ImageJ's mask of every case (bool arrays of IMAGE_SHAPE), and ImageJ's version."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "masks.ijm"
        script.write_text(macro(cases), encoding="utf-8")
        done = subprocess.run([*command, str(script)], capture_output=True, text=True,
                              timeout=600, check=False)
    masks: list[list[list[bool]]] = []
    version = "?"
    for line in done.stdout.splitlines():
        if line.startswith("@version "):
            version = line.split(" ", 1)[1].strip()
        elif line.startswith("#"):
            masks.append([])
        elif masks and line and set(line) <= {"0", "1"}:
            masks[-1].append([char == "1" for char in line])
    if len(masks) != len(cases):
        raise RuntimeError(f"ImageJ printed {len(masks)} of {len(cases)} masks: "
                           f"{done.stderr.strip()[-500:]}")
    return [np.array(mask, dtype=bool).reshape(IMAGE_SHAPE) for mask in masks], version


def pack(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask.ravel()).tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))
    return bits[:IMAGE_SHAPE[0] * IMAGE_SHAPE[1]].astype(bool).reshape(IMAGE_SHAPE)


def load_stored() -> tuple[list[dict], list[np.ndarray]]:
    document = json.loads(STORED.read_text(encoding="utf-8"))
    return document["cases"], [unpack(text) for text in document["masks"]]


def store(cases: list[dict], masks: list[np.ndarray], version: str) -> None:
    header = {"generated_by": f"ImageJ {version}, tests/imagej_masks.py",
              "shape": list(IMAGE_SHAPE)}
    lines = [json.dumps(header)[:-1] + ', "cases": [',
             ",\n".join(json.dumps(case) for case in cases), '], "masks": [',
             ",\n".join(json.dumps(pack(mask)) for mask in masks), "]}"]
    STORED.parent.mkdir(parents=True, exist_ok=True)
    STORED.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    found = imagej_command()
    if found is None:
        raise SystemExit("Java or ImageJ (ij.jar) not found; apt-get install imagej")
    all_cases = generated_cases()
    store(all_cases, *run_imagej(all_cases, found))
    print(f"{len(all_cases)} masks written to {STORED}")
