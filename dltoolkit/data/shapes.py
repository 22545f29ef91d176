"""A synthetic shapes data set, generated from a seed: six classes of shapes drawn at random.

    dm = ShapesDataModule()                           # 6,000 grey 32x32 images, 6 classes
    dm = ShapesDataModule(channels=3, image_size=48)  # colour shapes on colour backgrounds

Each image holds one filled shape (circle, ring, square, triangle, cross or star) at a random position,
size and rotation, in a random foreground shade on a random background shade (either may be the
darker), with anti-aliased edges and uniform pixel noise. Position, scale, rotation and polarity vary,
so no single pixel template separates the classes: a linear model on the pixels does poorly, while a
small CNN learns the set to high accuracy in a few epochs.

Reproducible byte for byte: image ``i`` depends only on ``(seed, i)`` (a NumPy PCG64 stream per image),
so a smaller ``num_samples`` gives a prefix of a larger one. The drawing uses only integer arithmetic
and IEEE-exact float operations (``+ - * /``); the trigonometry of the rotations is rounded to 9
decimals first, so no platform's ``sin``/``cos`` last-bit differences can flip a pixel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dltoolkit.catalog import register_data
from dltoolkit.data.base import ImageDataModule, TensorImages

#: The class names, index = label.
SHAPES = ("circle", "ring", "square", "triangle", "cross", "star")

_SUPERSAMPLE = 4  # samples per pixel side: edges are anti-aliased over 4x4 = 16 coverage levels


def _polygon(points: list[tuple[float, float]]) -> np.ndarray:
    return np.array(points, dtype=np.float64)


def _regular(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    angles = [phase + 2 * math.pi * k / n for k in range(n)]
    return [(round(radius * math.cos(a), 9), round(radius * math.sin(a), 9)) for a in angles]


def _star(points: int = 5, inner: float = 0.42) -> list[tuple[float, float]]:
    outer = _regular(points, 1.0)
    inner_pts = _regular(points, inner, phase=-math.pi / 2 + math.pi / points)
    return [p for pair in zip(outer, inner_pts, strict=True) for p in pair]


# Unit-sized outlines (radius about 1) in the shape's own frame, y pointing down.
_OUTLINES: dict[str, np.ndarray] = {
    "square": _polygon([(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]),
    "triangle": _polygon(_regular(3, 1.1)),
    "cross": _polygon(
        [
            (-0.3, -1.0),
            (0.3, -1.0),
            (0.3, -0.3),
            (1.0, -0.3),
            (1.0, 0.3),
            (0.3, 0.3),
            (0.3, 1.0),
            (-0.3, 1.0),
            (-0.3, 0.3),
            (-1.0, 0.3),
            (-1.0, -0.3),
            (-0.3, -0.3),
        ]
    ),
    "star": _polygon(_star()),
}

#: cos and sin of whole-degree rotations, rounded so that every platform gets the same bits.
_COS = np.array([round(math.cos(math.radians(d)), 9) for d in range(360)])
_SIN = np.array([round(math.sin(math.radians(d)), 9) for d in range(360)])


def _inside_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule: is each point ``(x, y)`` inside the closed polygon ``poly`` (V, 2)?"""
    inside = np.zeros(x.shape, dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        if yi != yj:
            crosses = (yi > y) != (yj > y)
            x_edge = (xj - xi) * (y - yi) / (yj - yi) + xi
            inside ^= crosses & (x < x_edge)
        xj, yj = xi, yi
    return inside


def _coverage(label: int, size: int, cx: float, cy: float, r: float, degrees: int) -> np.ndarray:
    """Number of the 16 sub-pixel samples of each pixel inside the shape: ``(size, size)`` ints 0..16."""
    s = _SUPERSAMPLE
    ticks = (np.arange(size * s, dtype=np.float64) + 0.5) / s  # sample positions in pixel units
    dx = ticks[None, :] - cx  # (size*s, size*s) by broadcasting
    dy = ticks[:, None] - cy
    name = SHAPES[label]
    if name in ("circle", "ring"):
        d2 = (dx * dx + dy * dy) / (r * r)
        mask = d2 <= 1.0
        if name == "ring":
            mask &= d2 >= 0.55 * 0.55
    else:
        c, sn = _COS[degrees], _SIN[degrees]
        u = (dx * c + dy * sn) / r  # rotate the samples into the shape's frame
        v = (dy * c - dx * sn) / r
        mask = _inside_polygon(u, v, _OUTLINES[name])
    return mask.reshape(size, s, size, s).sum(axis=(1, 3))


def draw_shape(
    label: int, image_size: int, channels: int, rng: np.random.Generator, noise: float
) -> np.ndarray:
    """One ``(channels, image_size, image_size)`` uint8 image of ``SHAPES[label]``, drawn from ``rng``."""
    size = image_size
    r = size * rng.uniform(0.18, 0.4)  # circumradius in pixels
    margin = r * 0.9
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    degrees = int(rng.integers(0, 360))
    # foreground and background shades, far enough apart to see (either may be the lighter)
    while True:
        fg = rng.integers(0, 256, size=channels)
        bg = rng.integers(0, 256, size=channels)
        if np.abs(fg - bg).max() >= 80:
            break
    cov = _coverage(label, size, cx, cy, r, degrees).astype(np.int64)  # 0..16
    full = _SUPERSAMPLE * _SUPERSAMPLE
    img = (bg[:, None, None] * (full - cov) + fg[:, None, None] * cov + full // 2) // full  # exact blend
    if noise > 0:
        amp = round(noise * 255 * math.sqrt(3))  # uniform on [-amp, amp] has std noise*255
        img = img + rng.integers(-amp, amp + 1, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_shapes(
    num_samples: int, image_size: int = 32, channels: int = 1, seed: int = 0, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, C, S, S) uint8, labels (N,) int64)``; labels cycle through the classes (balanced)."""
    images = np.empty((num_samples, channels, image_size, image_size), dtype=np.uint8)
    labels = np.arange(num_samples, dtype=np.int64) % len(SHAPES)
    for i in range(num_samples):
        rng = np.random.default_rng([seed, i])  # image i depends on (seed, i) only
        images[i] = draw_shape(int(labels[i]), image_size, channels, rng, noise)
    return images, labels


@register_data("shapes")
class ShapesDataModule(ImageDataModule):
    """Synthetic shapes (circle, ring, square, triangle, cross, star), generated from a seed; no files.

    Args:
        num_samples: number of images generated (balanced over the 6 classes); split into train, val, test.
        image_size: side of the square images, in pixels (at least 16).
        channels: 1 for grey shapes on grey backgrounds, 3 for colour.
        noise: standard deviation of the uniform pixel noise, as a fraction of the 0..255 range.
        data_seed: seed of the generated images (``seed`` seeds the splits).
    """

    def __init__(
        self,
        num_samples: int = 6000,
        image_size: int = 32,
        channels: int = 1,
        noise: float = 0.05,
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_samples < len(SHAPES):
            raise ValueError(f"num_samples must be at least {len(SHAPES)} (one per class), got {num_samples}")
        if image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels}")
        if not 0.0 <= noise <= 0.5:
            raise ValueError(f"noise must be in [0, 0.5], got {noise}")
        self.num_samples, self.image_size, self.channels = num_samples, image_size, channels
        self.noise, self.data_seed = noise, data_seed

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def classes(self) -> list[str]:
        return list(SHAPES)

    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        images, labels = generate_shapes(
            self.num_samples, self.image_size, self.channels, seed=self.data_seed, noise=self.noise
        )
        return TensorImages(torch.from_numpy(images), torch.from_numpy(labels)), None
