"""Deflate libraries on the frames the app writes: ratio, compress and inflate speed.

Shuffled float32 512² frames, as the app stores them: float data with sensor
noise (random low bits, the hard case) and a corrected camera frame (counts
times a factor).  Runs are repeated, alternating the codecs, and medians are
printed with the load seen (``os.getloadavg``), since absolute speeds depend on
what else runs; the ratios between codecs are the result.

    python benchmarks/bench_codecs.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import zlib

import numpy as np


def _codecs() -> dict:
    codecs = {"zlib": (lambda data: zlib.compress(data, 1), zlib.decompress)}
    try:
        from isal import isal_zlib
        codecs["isal"] = (lambda data: isal_zlib.compress(data, 1), isal_zlib.decompress)
    except ImportError:
        print("isal not installed")
    try:
        import deflate
        codecs["libdeflate"] = (lambda data: deflate.zlib_compress(data, 1),
                                lambda data, size=None: deflate.zlib_decompress(data, size))
    except ImportError:
        print("deflate not installed")
    try:
        from zlib_ng import zlib_ng
        codecs["zlib-ng"] = (lambda data: zlib_ng.compress(data, 1), zlib_ng.decompress)
    except ImportError:
        print("zlib-ng not installed")
    return codecs


def _frames() -> dict[str, bytes]:
    from flimage_app.model.chunks import shuffle_bytes

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512]
    cell = 400 * np.exp(-((yy - 256) ** 2 + (xx - 256) ** 2) / 8000.0)
    noise = (100 + cell + rng.normal(0, 5, cell.shape)).astype(np.float32)
    camera = (rng.poisson(100 + cell).astype(np.float32) * np.float32(1.2345)).astype(np.float32)
    return {"float noise": shuffle_bytes(noise), "corrected camera": shuffle_bytes(camera)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    codecs, frames = _codecs(), _frames()
    times: dict = {}
    sizes: dict = {}
    print(f"load before: {os.getloadavg()}")
    for _ in range(args.repeats):
        for name, (compress, decompress) in codecs.items():
            for kind, data in frames.items():
                start = time.perf_counter()
                packed = compress(data)
                middle = time.perf_counter()
                if name == "libdeflate":
                    out = decompress(packed, len(data))
                else:
                    out = decompress(packed)
                end = time.perf_counter()
                assert out == data and zlib.decompress(packed) == data
                sizes[name, kind] = len(packed) / len(data)
                times.setdefault((name, kind), []).append((middle - start, end - middle))
    print(f"load after: {os.getloadavg()}")
    mb = len(next(iter(frames.values()))) / 1e6
    print("| codec | frame | ratio | compress MB/s | inflate MB/s |")
    print("|---|---|---|---|---|")
    for (name, kind), runs in times.items():
        pack = statistics.median(run[0] for run in runs)
        unpack = statistics.median(run[1] for run in runs)
        print(f"| {name} | {kind} | {sizes[name, kind]:.3f} | {mb / pack:.0f} | "
              f"{mb / unpack:.0f} |")


if __name__ == "__main__":
    main()
