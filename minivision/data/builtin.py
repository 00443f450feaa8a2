"""The built-in datasets: images and clips that the package draws itself, so nothing is downloaded.

``BuiltinShapes`` draws one of ten geometric shapes on a cluttered, noisy background. Every shape
is a region {(u, v): d(u, v) < 0} of a signed-distance-like function d in the shape's own unit
coordinates; a pose (centre c, 2x2 matrix M: rotation, scale, and for the "distorted" variant
shear) maps them to pixels, so a pixel p belongs to the shape where d(M^-1 (p - c)) < 0. The edge
is anti-aliased by a one-pixel ramp, alpha = clip(0.5 - d * r, 0, 1), with r the shape's radius in
pixels. Every class is closed under rotation and mirroring (each shape has an axis of symmetry and
the rotation is uniform), so flips and rotations are label-preserving augmentations here.

``BuiltinMotionClips`` moves one object through T frames; its class is the motion. Position lives
on a torus (the object wraps round the edges), the angle is uniform, the log-radius is a sawtooth
with a uniform phase and the colour pair is i.i.d.: so every single frame has exactly the same
distribution for every class, and only time tells the classes apart.

Item i is a pure function of (seed, split, i): its random numbers come from its own generator,
``numpy.random.default_rng([seed, split, i, kind])``, so the datasets need no storage, any item can
be drawn in any order, and train and test are different streams.
"""

import math

import numpy as np
import torch
from torch.utils.data import Dataset

IMAGE_SIZE = 32
SHAPE_CLASSES = [
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "star",
    "bar",
    "half_disk",
    "frame",
    "tee",
]
MOTION_CLASSES = [
    "static",
    "right",
    "left",
    "down",
    "up",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
    "flicker",
]
_SPLIT = {True: 0, False: 1}  # train / test stream
_KIND = {"shapes": 0, "motion": 1}

# Pixel centres, shared by every image: (H, W) grids of x (column) and y (row) in pixels.
_Y, _X = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) + 0.5


def _box(u, v, a, b):
    """< 0 inside the axis-aligned rectangle |u| < a, |v| < b (a Chebyshev-style distance)."""
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def _triangle(u, v):
    # Equilateral triangle, circumradius 0.95: the largest of three half-plane distances, with
    # outward edge normals 120 degrees apart (90, 210 and 330 degrees).
    inradius = 0.475
    d = v - inradius  # the edge whose normal points along +v
    for angle in (math.radians(210), math.radians(330)):
        d = np.maximum(d, u * math.cos(angle) + v * math.sin(angle) - inradius)
    return d


def _star(u, v):
    r = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)
    return r - (0.6 + 0.32 * np.cos(5 * phi))  # five points, from radius 0.28 to 0.92


def _half_disk(u, v):
    v = v + 0.4  # centre the half disk on its own centroid (roughly)
    return np.maximum(np.sqrt(u * u + v * v) - 0.95, -v)


# One function per class, in label order: (u, v) in unit shape coordinates -> < 0 inside.
SHAPES = {
    "circle": lambda u, v: np.sqrt(u * u + v * v) - 0.8,
    "square": lambda u, v: _box(u, v, 0.68, 0.68),
    "triangle": _triangle,
    "cross": lambda u, v: np.minimum(_box(u, v, 0.9, 0.24), _box(u, v, 0.24, 0.9)),
    "ring": lambda u, v: np.abs(np.sqrt(u * u + v * v) - 0.7) - 0.2,
    "star": _star,
    "bar": lambda u, v: _box(u, v, 0.95, 0.22),
    "half_disk": _half_disk,
    "frame": lambda u, v: np.maximum(_box(u, v, 0.8, 0.8), -_box(u, v, 0.45, 0.45)),
    "tee": lambda u, v: np.minimum(_box(u, v - 0.6, 0.85, 0.22), _box(u, v + 0.15, 0.22, 0.75)),
}


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]], dtype=np.float32)


def _draw(image, shape, centre, matrix, colour, *, wrap=False):
    """Alpha-blend a shape into ``image`` (3, H, W) in place.

    Args:
        shape: a key of ``SHAPES``.
        centre: (x, y) in pixels.
        matrix: 2x2 map from unit shape coordinates to pixel offsets (rotation times scale ...).
        colour: (3,) RGB in [0, 1].
        wrap: measure offsets on the torus (the object wraps round the image edges).
    """
    cx, cy = float(centre[0]), float(centre[1])
    if wrap:  # the shortest offset on a torus of side IMAGE_SIZE
        dx = (_X - cx + IMAGE_SIZE / 2) % IMAGE_SIZE - IMAGE_SIZE / 2  # (H, W)
        dy = (_Y - cy + IMAGE_SIZE / 2) % IMAGE_SIZE - IMAGE_SIZE / 2
        window = image
    else:  # every shape lies within 1.2 units of its centre: draw only in that box
        reach = 1.2 * float(np.abs(matrix).sum(axis=1).max()) + 1.0
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, IMAGE_SIZE)
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, IMAGE_SIZE)
        dx, dy = _X[y0:y1, x0:x1] - cx, _Y[y0:y1, x0:x1] - cy
        window = image[:, y0:y1, x0:x1]
    inv = np.linalg.inv(matrix).tolist()
    u = inv[0][0] * dx + inv[0][1] * dy
    v = inv[1][0] * dx + inv[1][1] * dy
    radius = math.sqrt(abs(np.linalg.det(matrix)))  # pixels per shape unit, for a 1-pixel edge ramp
    alpha = np.clip(0.5 - SHAPES[shape](u, v) * radius, 0.0, 1.0)  # (h, w)
    window *= 1.0 - alpha
    window += alpha * colour.astype(np.float32)[:, None, None]


def _contrasting(rng, colour: np.ndarray) -> np.ndarray:
    """A colour whose every channel is (colour + U(0.3, 0.7)) mod 1: 0.3-0.7 away from ``colour``.

    If ``colour`` is uniform on [0, 1]^3 the result is too, and (colour, result) has the same joint
    distribution as (result, colour), because the offset is symmetric about 1/2 modulo 1.
    """
    return (colour + rng.uniform(0.3, 0.7, size=3)) % 1.0


def _light_dark_pair(rng) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, background): random hues, one light and one dark, in random order.

    The light colour has luminance near U(0.65, 1), the dark one near U(0, 0.35), each channel moved
    by U(-0.15, 0.15); a coin decides which of the two is the shape. Dark is light mirrored
    (x -> 1 - x), so every pixel has mean 0.5 over the dataset. So the shape always stands
    out, yet neither its colour nor its brightness says which class it is: a pixel template (a
    linear classifier) averages light-on-dark and dark-on-light to nothing.
    """
    light = np.clip(rng.uniform(0.65, 1.0) + rng.uniform(-0.15, 0.15, size=3), 0.0, 1.0)
    dark = np.clip(rng.uniform(0.0, 0.35) + rng.uniform(-0.15, 0.15, size=3), 0.0, 1.0)
    return (light, dark) if rng.uniform() < 0.5 else (dark, light)


def _background(rng, bg: np.ndarray, clutter: int) -> np.ndarray:
    """A (3, H, W) background: the colour ``bg``, a faint random gradient and thin random lines."""
    gx, gy = rng.uniform(-0.15, 0.15, size=2) / IMAGE_SIZE
    ramp = float(gx) * (_X - IMAGE_SIZE / 2) + float(gy) * (_Y - IMAGE_SIZE / 2)  # (H, W)
    image = bg.astype(np.float32)[:, None, None] + ramp  # (3, H, W)
    for _ in range(clutter):  # thin random strokes, about 1 pixel wide: clutter, not a "bar"
        p = rng.uniform(0, IMAGE_SIZE, size=2)
        q = np.clip(p + rng.uniform(-12, 12, size=2), 0, IMAGE_SIZE)
        colour = rng.uniform(0, 1, size=3).astype(np.float32)
        # only the segment's bounding box (plus a pixel) can be touched: draw there
        x0, y0 = np.floor(np.minimum(p, q) - 1).clip(0).astype(int)
        x1, y1 = np.ceil(np.maximum(p, q) + 1).astype(int)
        xs, ys = _X[y0:y1, x0:x1], _Y[y0:y1, x0:x1]
        (px, py), (ex, ey) = p.tolist(), (q - p).tolist()
        t = np.clip(((xs - px) * ex + (ys - py) * ey) / (ex * ex + ey * ey + 1e-6), 0.0, 1.0)
        dist = np.hypot(xs - px - t * ex, ys - py - t * ey)
        alpha = np.clip(1.0 - dist, 0.0, 1.0) * 0.7
        window = image[:, y0:y1, x0:x1]
        window *= 1.0 - alpha
        window += alpha * colour[:, None, None]
    return image


def _to_uint8(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))


class _DrawnDataset(Dataset):
    """What both built-in datasets share: items drawn on demand from (seed, split, index), cached
    after the first draw, labels ``index % num_classes``. Subclasses define ``render(index)``."""

    def __init__(self, num_samples: int, *, train: bool, seed: int, transform, classes):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (it seeds numpy's SeedSequence), got {seed}.")
        self.num_samples, self.train, self.seed, self.transform = num_samples, train, seed, transform
        self.classes = list(classes)
        self.targets = [i % len(self.classes) for i in range(num_samples)]
        self._cache = {}  # index -> uint8 tensor: items are pure functions of the index

    def __len__(self) -> int:
        return self.num_samples

    def _rng(self, index: int, kind: str) -> np.random.Generator:
        """Item ``index``'s own random generator (an IndexError outside the dataset)."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} items.")
        return np.random.default_rng([self.seed, _SPLIT[self.train], index, _KIND[kind]])

    def __getitem__(self, index: int):
        item = self._cache.get(index)
        if item is None:  # draw once, then reuse: an epoch after the first costs no drawing
            item = self._cache[index] = self.render(index)  # uint8
        if self.transform is None:
            return item.float() / 255.0, self.targets[index]
        return self.transform(item), self.targets[index]


class BuiltinShapes(_DrawnDataset):
    """Ten classes of geometric shapes, 32x32 RGB, drawn on the fly; item i depends only on (seed, train, i).

    Each image: a light shape on a dark background or a dark shape on a light one (random hues, see
    ``_light_dark_pair``), a faint gradient, 0-2 thin clutter strokes, the shape (uniform rotation;
    radius 10-13 pixels; centre within 2 pixels of the middle) and Gaussian pixel noise (sigma
    0.05). ``variant="distorted"`` adds a strong random
    affine map to the shape (rotation up to 60 degrees, scale 0.6-1.2, shear up to 0.35, translation up
    to 7 pixels), so a Spatial Transformer has something to undo. Labels are balanced: label = i % 10.

    Args:
        num_samples: number of items.
        train: the training stream (else the test stream, with different images).
        seed: selects the stream; the same seed gives the same images.
        variant: "plain" or "distorted".
        transform: called on a ``uint8`` tensor (3, 32, 32) (torchvision v2 transforms accept it);
            when None, items are float tensors (3, 32, 32) in [0, 1].
    """

    variants = ("plain", "distorted")

    def __init__(
        self,
        num_samples: int = 10_000,
        *,
        train: bool = True,
        seed: int = 0,
        variant: str = "plain",
        transform=None,
    ):
        if variant not in self.variants:
            raise ValueError(f"variant must be one of {self.variants}, got {variant!r}.")
        super().__init__(num_samples, train=train, seed=seed, transform=transform,
                         classes=SHAPE_CLASSES)
        self.variant = variant

    def render(self, index: int) -> torch.Tensor:
        """Item ``index`` as a uint8 tensor (3, 32, 32), before any transform."""
        rng = self._rng(index, "shapes")
        fg, bg = _light_dark_pair(rng)
        image = _background(rng, bg, clutter=int(rng.integers(0, 3)))
        matrix = _rotation(rng.uniform(0, 2 * math.pi)) * rng.uniform(10.0, 13.0)
        centre = IMAGE_SIZE / 2 + rng.uniform(-2, 2, size=2)
        if self.variant == "distorted":
            shear = np.array([[1.0, rng.uniform(-0.35, 0.35)], [0.0, 1.0]], dtype=np.float32)
            warp = _rotation(math.radians(rng.uniform(-60, 60))) @ shear * rng.uniform(0.6, 1.2)
            matrix = warp @ matrix
            centre = centre + rng.uniform(-7, 7, size=2)
        _draw(image, self.classes[self.targets[index]], centre, matrix, fg)
        image += 0.05 * rng.standard_normal(size=image.shape, dtype=np.float32)
        return _to_uint8(image)



class BuiltinMotionClips(_DrawnDataset):
    """Ten classes of short clips whose class is the motion of one object: (T, 3, 32, 32).

    Classes: static, right, left, down, up, rotate_cw, rotate_ccw, grow, shrink, flicker (the object
    alternates between two colours). The object (a random non-round shape), its colours, its position,
    angle and size are random per clip; the position wraps round the edges, so any single frame has
    the same distribution in every class (see the module docstring) and one frame alone is at chance.

    Args:
        num_samples: number of clips.
        train: the training stream (else the test stream).
        seed: selects the stream.
        frames: T, frames per clip (>= 2).
        transform: called on the uint8 clip (T, 3, 32, 32); when None, clips are float in [0, 1].
    """

    # Shapes whose rotation is visible at 32x32 (a circle or ring would hide rotate_cw/ccw).
    shapes = ("square", "triangle", "cross", "star", "bar", "half_disk", "tee")

    def __init__(
        self,
        num_samples: int = 2_000,
        *,
        train: bool = True,
        seed: int = 0,
        frames: int = 8,
        transform=None,
    ):
        if frames < 2:
            raise ValueError(f"frames must be >= 2 (motion needs two frames), got {frames}.")
        super().__init__(num_samples, train=train, seed=seed, transform=transform,
                         classes=MOTION_CLASSES)
        self.frames = frames

    def render(self, index: int) -> torch.Tensor:
        """Clip ``index`` as a uint8 tensor (T, 3, 32, 32), before any transform."""
        rng = self._rng(index, "motion")
        motion = self.classes[self.targets[index]]
        shape = self.shapes[rng.integers(len(self.shapes))]
        colour = rng.uniform(0, 1, size=3)
        bg = _contrasting(rng, colour)
        # flicker alternates with a second colour that contrasts with the background exactly as the
        # first does, so a single frame of it looks like a frame of any other class
        colours = (colour, _contrasting(rng, bg) if motion == "flicker" else colour)
        background = _background(rng, bg, clutter=0)  # static over the clip
        position = rng.uniform(0, IMAGE_SIZE, size=2)  # uniform on the torus
        angle = rng.uniform(0, 2 * math.pi)
        size_phase = rng.uniform(0, 1)  # log-radius = sawtooth(phase), uniform in every frame
        speed = rng.uniform(1.5, 3.0)  # pixels per frame
        spin = math.radians(rng.uniform(15, 30))  # radians per frame
        growth = rng.uniform(0.08, 0.15)  # sawtooth periods per frame
        step = {"right": (speed, 0), "left": (-speed, 0), "down": (0, speed), "up": (0, -speed)}
        velocity = np.array(step.get(motion, (0.0, 0.0)))
        turn = {"rotate_cw": spin, "rotate_ccw": -spin}.get(
            motion, 0.0
        )  # y points down: +angle is clockwise
        grow = {"grow": growth, "shrink": -growth}.get(motion, 0.0)
        clip = np.empty((self.frames, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)  # (T, 3, H, W)
        for t in range(self.frames):
            radius = math.exp(
                math.log(6.0) + ((size_phase + grow * t) % 1.0) * math.log(11.0 / 6.0)
            )
            image = background.copy()
            _draw(
                image,
                shape,
                position + velocity * t,
                _rotation(angle + turn * t) * radius,
                colours[t % 2],
                wrap=True,
            )
            clip[t] = image + 0.04 * rng.standard_normal(size=image.shape, dtype=np.float32)
        return _to_uint8(clip)
