"""The arena's vector and ray arithmetic: pure functions on floats.

`velocity` and `advance` are the whole movement rule. A client that predicts
its own ship runs the same few IEEE-754 operations in the same order
(docs/arena.md, "Movement"), so its prediction matches the server's to the
last bit: no fused multiply-add, no other rounding than `quantize`.
"""

from __future__ import annotations

import math
from typing import Final

#: Positions, velocities and aims live on a grid of 1/1000: the state holds
#: exactly the numbers the snapshot shows.
GRID: Final = 1000.0


def quantize(value: float) -> float:
    """`value` rounded to the nearest 1/1000, halves upwards.

    Written as `floor(v * 1000 + 0.5) / 1000` because JavaScript's
    `Math.floor(v * 1000 + 0.5) / 1000` gives the same double for every input
    (Python's `round` rounds halves to even and would not). Never -0.0.
    """
    return math.floor(value * GRID + 0.5) / GRID


def velocity(mx: float, my: float, speed: float) -> tuple[float, float]:
    """The velocity for stick `(mx, my)`: scaled down to length 1 if longer,
    times `speed`, quantized."""
    length_sq = mx * mx + my * my
    if length_sq > 1.0:
        length = math.sqrt(length_sq)
        mx, my = mx / length, my / length
    return quantize(mx * speed), quantize(my * speed)


def advance(
    x: float, y: float, vx: float, vy: float, dt: float, width: float, height: float, radius: float
) -> tuple[float, float]:
    """One step: `position + velocity * dt`, clamped so a circle of `radius`
    stays inside `[0, width] x [0, height]`, then quantized."""
    nx = min(max(x + vx * dt, radius), width - radius)
    ny = min(max(y + vy * dt, radius), height - radius)
    return quantize(nx), quantize(ny)


def aim_vector(aim: float) -> tuple[float, float]:
    """The unit vector of angle `aim` (radians; y grows downwards)."""
    return math.cos(aim), math.sin(aim)


def aim_towards(x: float, y: float, tx: float, ty: float) -> float:
    """The quantized angle from `(x, y)` to `(tx, ty)` (0 when they coincide)."""
    return quantize(math.atan2(ty - y, tx - x))


def ray_circle(
    ox: float, oy: float, dx: float, dy: float, cx: float, cy: float, radius: float
) -> float | None:
    """How far along the ray from `(ox, oy)` with unit direction `(dx, dy)` it
    first touches the circle at `(cx, cy)`: 0 if the origin is inside the
    circle, None if the ray misses it (or it lies behind)."""
    fx, fy = cx - ox, cy - oy
    dist_sq = fx * fx + fy * fy
    r_sq = radius * radius
    if dist_sq <= r_sq:
        return 0.0
    along = fx * dx + fy * dy
    if along <= 0.0:
        return None
    off_sq = dist_sq - along * along
    if off_sq > r_sq:
        return None
    return along - math.sqrt(r_sq - off_sq)


def ray_exit(ox: float, oy: float, dx: float, dy: float, width: float, height: float) -> float:
    """How far the ray from `(ox, oy)` (inside the field) runs before it
    leaves `[0, width] x [0, height]`."""
    reach = math.inf
    if dx > 0.0:
        reach = (width - ox) / dx
    elif dx < 0.0:
        reach = -ox / dx
    if dy > 0.0:
        reach = min(reach, (height - oy) / dy)
    elif dy < 0.0:
        reach = min(reach, -oy / dy)
    return max(reach, 0.0)
