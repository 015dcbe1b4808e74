"""The energy scenario's plot: site power, the limit and each car's power over time, as a
PNG. With matplotlib (the `plot` extra) a proper chart; without it, a plain chart drawn
pixel by pixel and written with zlib, so the run never needs a plotting library."""

from __future__ import annotations

import importlib
import struct
import zlib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from simulators.scenario.energy_report import Sample

W, H, PAD = 1200, 600, 40
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
RED = (220, 30, 30)
GREY = (200, 200, 200)
CAR_COLOURS = [(70, 130, 180), (60, 179, 113), (238, 154, 0), (148, 103, 189), (23, 190, 207)]


def plot(path: str | Path, samples: Sequence[Sample], limit_w: float, title: str = "") -> str:
    """Write the chart to `path`; returns which way it was drawn."""
    try:
        # imported by name: an optional extra, which type checking must not depend on
        importlib.import_module("matplotlib").use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        Path(path).write_bytes(png(samples, limit_w))
        return "plain"
    hours = [s.t / 3600 for s in samples]
    fig, ax = plt.subplots(figsize=(12, 6))
    for regnum in sorted({r for s in samples for r in s.cars_w}):
        ax.plot(hours, [s.cars_w.get(regnum, 0) / 1000 for s in samples], lw=0.6, alpha=0.6)
    ax.plot(hours, [s.site_w / 1000 for s in samples], color="black", lw=1.8, label="site")
    ax.axhline(limit_w / 1000, color="red", lw=1.2, ls="--", label="limit")
    ax.set_xlabel("hours into the run")
    ax.set_ylabel("kW")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return "matplotlib"


def png(samples: Sequence[Sample], limit_w: float) -> bytes:
    """A plain chart: grey axes, each car thin in colour, the site black, the limit red."""
    pixels = [bytearray(bytes(WHITE) * W) for _ in range(H)]
    end = max((s.t for s in samples), default=1.0) or 1.0
    top = max([limit_w * 1.2, *(s.site_w * 1.05 for s in samples)]) or 1.0

    def xy(t: float, w: float) -> tuple[int, int]:
        x = PAD + int((W - 2 * PAD) * t / end)
        y = H - PAD - int((H - 2 * PAD) * w / top)
        return x, y

    def put(x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < W and 0 <= y < H:
            pixels[y][3 * x : 3 * x + 3] = bytes(colour)

    def line(a: tuple[int, int], b: tuple[int, int], colour: tuple[int, int, int]) -> None:
        (x0, y0), (x1, y1) = a, b
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(n + 1):
            put(x0 + (x1 - x0) * i // n, y0 + (y1 - y0) * i // n, colour)

    line((PAD, H - PAD), (W - PAD, H - PAD), GREY)
    line((PAD, PAD), (PAD, H - PAD), GREY)
    cars = sorted({r for s in samples for r in s.cars_w})
    for n, regnum in enumerate(cars):
        colour = CAR_COLOURS[n % len(CAR_COLOURS)]
        points = [xy(s.t, s.cars_w.get(regnum, 0.0)) for s in samples]
        for a, b in pairwise(points):
            line(a, b, colour)
    site = [xy(s.t, s.site_w) for s in samples]
    for a, b in pairwise(site):
        line(a, b, BLACK)
        line((a[0], a[1] - 1), (b[0], b[1] - 1), BLACK)
    line(xy(0, limit_w), xy(end, limit_w), RED)
    return _encode(pixels)


def _encode(rows: list[bytearray]) -> bytes:
    raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", len(rows[0]) // 3, len(rows), 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
