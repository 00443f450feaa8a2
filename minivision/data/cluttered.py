"""Cluttered shapes: one distorted built-in shape somewhere on a large canvas strewn with fragments.

This is the built-in counterpart of the translated, cluttered MNIST of Jaderberg et al. 2015
("Spatial Transformer Networks", sec. 4.1), where a digit sits at a random place of a 60x60
canvas among random 6x6 crops of other digits. Here the object is one of the ten built-in shapes
(:mod:`minivision.data.builtin`) in the pose of ``BuiltinShapes(variant="distorted")`` (uniform
rotation, radius 10-13 pixels, then a random rotation up to 60 degrees, shear up to 0.35 and
scale 0.6-1.2), placed at a uniformly random position on a ``canvas_size`` canvas where it fits
whole. The clutter is ``clutter`` square fragments, ``fragment_size`` pixels wide, cut from other
shapes at random poses, in the object's own colour, so that neither colour nor a local patch
says where the object is: a classifier must find it, and a Spatial Transformer can learn to crop
and zoom it. The object is drawn last, so clutter never hides any of it.

Each item is a pure function of (seed, split, index), like the other built-ins, with three
generators of its own (the object, the clutter, the pixel noise): the object's placement does not
depend on the clutter, and :meth:`ClutteredShapes.placement` gives it without drawing the image.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .builtin import (
    _SPLIT,
    SHAPE_CLASSES,
    SHAPES,
    _DrawnDataset,
    _light_dark_pair,
    _rotation,
    _to_uint8,
)

_KIND = 2  # after builtin's shapes (0) and motion (1): a stream of its own
_OBJECT, _CLUTTER, _NOISE = 0, 1, 2  # the three generators of an item
_REACH = 0.95  # every shape lies within |u|, |v| < 0.95 of its centre, in shape units


@dataclass(frozen=True)
class Placement:
    """Where the object of one item is, and how it is distorted (the ground truth an STN is never
    told).

    Attributes:
        label: the class index.
        centre: (x, y), the shape's centre in pixels (x: column, y: row; pixel j spans [j, j+1]).
        matrix: (2, 2), the map from unit shape coordinates to pixel offsets: pixel p belongs to
            the shape where SHAPES[class](matrix^-1 (p - centre)) < 0.
        box: (x0, y0, x1, y1), pixel bounds that hold the whole shape (x1, y1 exclusive).
        colour: (3,), the RGB colour of the object (and of the clutter) in [0, 1].
        background: (3,), the colour of the canvas.
        distortion: the random pose: ``rotation`` (degrees, uniform), ``radius`` (pixels),
            then the distortion of the distorted built-ins: ``warp_rotation`` (degrees),
            ``shear`` and ``scale``; matrix = R(warp_rotation) Shear(shear) scale R(rotation)
            radius.
    """

    label: int
    centre: tuple[float, float]
    matrix: np.ndarray
    box: tuple[int, int, int, int]
    colour: np.ndarray
    background: np.ndarray
    distortion: dict

    def theta(self, canvas_size: int, *, margin: float = 1.2) -> torch.Tensor:
        """The affine theta (2, 3) that undoes the placement: through ``F.affine_grid`` (with
        ``align_corners=False``) its output shows the shape centred and upright, its unit
        coordinates running from -margin to +margin across the output.

        Output point (x_t, y_t) reads shape point u = margin (x_t, y_t), the pixel
        p = centre + matrix u, at the normalised input coordinate 2 p / canvas_size - 1.
        """
        linear = 2.0 * margin / canvas_size * self.matrix  # (2, 2)
        shift = 2.0 * np.asarray(self.centre) / canvas_size - 1.0  # (2,)
        return torch.from_numpy(np.concatenate([linear, shift[:, None]], axis=1).astype(np.float32))

    def mask(self, canvas_size: int) -> np.ndarray:
        """(canvas_size, canvas_size) alpha in [0, 1] of the object alone, as drawn."""
        return _alpha(SHAPE_CLASSES[self.label], _grid(canvas_size), self.centre, self.matrix)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of a (size, size) image: x (column) and y (row) grids, each (size, size)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return x, y


def _alpha(shape: str, grid, centre, matrix) -> np.ndarray:
    """Coverage in [0, 1] of ``shape`` at pose (centre, matrix) on the pixel grid (xs, ys), with
    the built-ins' one-pixel anti-aliased edge: alpha = clip(0.5 - d * r, 0, 1)."""
    xs, ys = grid
    inv = np.linalg.inv(matrix).tolist()
    dx, dy = xs - float(centre[0]), ys - float(centre[1])
    u = inv[0][0] * dx + inv[0][1] * dy
    v = inv[1][0] * dx + inv[1][1] * dy
    radius = math.sqrt(abs(np.linalg.det(matrix)))  # pixels per shape unit
    return np.clip(0.5 - SHAPES[shape](u, v) * radius, 0.0, 1.0)


def _blend(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """image (3, h, w) <- (1 - alpha) image + alpha colour, in place; alpha (h, w)."""
    image *= 1.0 - alpha
    image += alpha * colour.astype(np.float32)[:, None, None]


class ClutteredShapes(_DrawnDataset):
    """One distorted built-in shape at a random place of a cluttered ``canvas_size`` canvas.

    Item i: a uniform background of one colour, ``clutter`` fragments of random shapes in the
    other colour (light on dark or dark on light, as the built-ins), the object in that colour on
    top, Gaussian pixel noise (sigma 0.05). Labels are balanced: label = i % 10.
    :meth:`placement` returns where the object is and its distortion.

    Args:
        num_samples: number of items.
        train: the training stream (else the test stream, with different images).
        seed: selects the stream; the same seed gives the same images.
        canvas_size: height and width of the images (64 by default; the paper's canvas is 60).
        clutter: fragments per image.
        fragment_size: side of a fragment in pixels.
        transform: called on a ``uint8`` tensor (3, canvas_size, canvas_size); when None, items
            are float tensors (3, canvas_size, canvas_size) in [0, 1].
    """

    def __init__(
        self,
        num_samples: int = 10_000,
        *,
        train: bool = True,
        seed: int = 0,
        canvas_size: int = 64,
        clutter: int = 4,
        fragment_size: int = 6,
        transform=None,
    ):
        if canvas_size < 56:  # the largest object is at most 2 * 26 pixels wide, plus its edge
            raise ValueError(
                f"canvas_size must be >= 56 so that any object fits, got {canvas_size}."
            )
        if clutter < 0 or not 1 <= fragment_size <= canvas_size:
            raise ValueError(f"need clutter >= 0 and 1 <= fragment_size <= canvas_size, got "
                             f"clutter={clutter}, fragment_size={fragment_size}.")
        super().__init__(num_samples, train=train, seed=seed, transform=transform,
                         classes=SHAPE_CLASSES)
        self.canvas_size, self.clutter, self.fragment_size = canvas_size, clutter, fragment_size
        self._grid = _grid(canvas_size)

    def _rng(self, index: int, part: int) -> np.random.Generator:
        """Item ``index``'s generator for one part (object, clutter or noise)."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} items.")
        return np.random.default_rng([self.seed, _SPLIT[self.train], index, _KIND, part])

    def placement(self, index: int) -> Placement:
        """The object of item ``index``: its class, pose, bounding box and colours."""
        rng = self._rng(index, _OBJECT)
        colour, background = _light_dark_pair(rng)
        rotation, radius = rng.uniform(0, 360), rng.uniform(10.0, 13.0)
        warp, shear, scale = rng.uniform(-60, 60), rng.uniform(-0.35, 0.35), rng.uniform(0.6, 1.2)
        shear_matrix = np.array([[1.0, shear], [0.0, 1.0]], dtype=np.float32)
        matrix = (_rotation(math.radians(warp)) @ shear_matrix * scale
                  @ _rotation(math.radians(rotation)) * radius)
        half = _REACH * np.abs(matrix).sum(axis=1)  # (2,): the shape's half-extent in x and y
        centre = rng.uniform(half + 1, self.canvas_size - half - 1)  # (2,): it fits whole
        low = np.floor(centre - half - 1).astype(int).clip(0)  # + 1: the anti-aliased edge
        high = np.ceil(centre + half + 1).astype(int).clip(max=self.canvas_size)
        distortion = {"rotation": rotation, "radius": radius, "warp_rotation": warp,
                      "shear": shear, "scale": scale}
        return Placement(label=self.targets[index], centre=(float(centre[0]), float(centre[1])),
                         matrix=matrix, box=(int(low[0]), int(low[1]), int(high[0]), int(high[1])),
                         colour=colour, background=background, distortion=distortion)

    def _fragment(self, rng) -> np.ndarray:
        """(f, f) alpha: a random window of a random shape at a random pose (f = fragment_size)."""
        f = self.fragment_size
        shape = SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))]
        matrix = _rotation(rng.uniform(0, 2 * math.pi)) * rng.uniform(10.0, 13.0)
        # the window's centre falls on the shape's inner part, so the fragment is rarely empty
        centre = f / 2 + rng.uniform(-7, 7, size=2)
        return _alpha(shape, _grid(f), centre, matrix)

    def render(self, index: int) -> torch.Tensor:
        """Item ``index`` as a uint8 tensor (3, canvas_size, canvas_size), before any transform."""
        where = self.placement(index)
        S, f = self.canvas_size, self.fragment_size
        image = np.empty((3, S, S), dtype=np.float32)  # (3, H, W)
        image[:] = where.background.astype(np.float32)[:, None, None]
        rng = self._rng(index, _CLUTTER)
        for _ in range(self.clutter):
            x0, y0 = rng.integers(0, S - f + 1, size=2)
            _blend(image[:, y0:y0 + f, x0:x0 + f], self._fragment(rng), where.colour)
        _blend(image, _alpha(self.classes[where.label], self._grid, where.centre, where.matrix),
               where.colour)
        noise = self._rng(index, _NOISE).standard_normal(size=image.shape, dtype=np.float32)
        return _to_uint8(image + 0.05 * noise)
