"""Start-up time to a rendered window: `flimage-app --demo --screenshot`, source and frozen.

    python benchmarks/bench_startup.py [--frozen dist/flimage-app/flimage-app] [--runs 5]

The screenshot is written once the demo series' first frame is on display, so
the time covers interpreter start, imports, window construction, opening the
file and rendering.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_command(command: list[str], runs: int) -> list[float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            png = Path(folder) / f"shot{run}.png"
            start = time.perf_counter()
            subprocess.run([*command, "--demo", "--screenshot", str(png)], check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            assert png.stat().st_size > 10_000
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen", default=str(ROOT / "dist" / "flimage-app" / "flimage-app"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    commands = {"source (python -m flimage_app)": [sys.executable, "-m", "flimage_app"]}
    if Path(args.frozen).is_file():
        commands["frozen (PyInstaller)"] = [args.frozen]
    else:
        print(f"no frozen app at {args.frozen}; build it with `make app`")
    for label, command in commands.items():
        times = time_command(command, args.runs)
        print(f"{label:<32} median {statistics.median(times):.2f} s   "
              f"min {min(times):.2f} s   max {max(times):.2f} s   ({args.runs} runs)")


if __name__ == "__main__":
    main()
