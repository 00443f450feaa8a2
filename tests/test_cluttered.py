"""minivision.data.ClutteredShapes: the distorted built-in shapes on a large cluttered canvas."""

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minivision.data import SHAPE_CLASSES, ClutteredShapes, Placement
from minivision.data.builtin import SHAPES
from minivision.data.cluttered import _grid


def test_the_same_seed_gives_the_same_images_in_any_order():
    a, b = ClutteredShapes(50, seed=3), ClutteredShapes(1000, seed=3)
    torch.testing.assert_close(a[7][0], b[7][0], rtol=0, atol=0)  # item 7 alone, or among 1000
    assert [a[i][0].sum().item() for i in (9, 2)] == [b[i][0].sum().item() for i in (9, 2)]
    assert not torch.equal(a[7][0], ClutteredShapes(50, seed=4)[7][0])  # another seed
    assert not torch.equal(a[7][0], ClutteredShapes(50, seed=3, train=False)[7][0])  # test split
    assert a.placement(7).centre == b.placement(7).centre


def test_items_are_float_images_or_what_the_transform_makes_of_uint8():
    x, y = ClutteredShapes(10, canvas_size=60)[3]
    assert x.dtype == torch.float32 and x.shape == (3, 60, 60) and y == 3
    assert 0.0 <= x.min() and x.max() <= 1.0
    seen = []
    ClutteredShapes(10, transform=lambda image: seen.append(image) or image)[0]
    assert seen[0].dtype == torch.uint8 and seen[0].shape == (3, 64, 64)
    with pytest.raises(IndexError):
        ClutteredShapes(10)[10]
    for bad in ({"canvas_size": 32}, {"clutter": -1}, {"fragment_size": 0}):
        with pytest.raises(ValueError):
            ClutteredShapes(10, **bad)


def test_classes_are_balanced_and_labels_match_the_placements():
    ds = ClutteredShapes(1000)
    assert ds.classes == SHAPE_CLASSES
    assert set(Counter(ds.targets).values()) == {100}
    assert all(ds.placement(i).label == ds[i][1] == i % 10 for i in range(0, 1000, 37))


@pytest.mark.parametrize("index", range(12))
def test_the_shape_is_where_its_placement_says_and_clutter_never_covers_it(index):
    ds, clean = ClutteredShapes(12, seed=1), ClutteredShapes(12, seed=1, clutter=0)
    where = ds.placement(index)
    assert isinstance(where, Placement) and where.centre == clean.placement(index).centre
    image, alone = ds.render(index).float() / 255, clean.render(index).float() / 255
    mask = where.mask(ds.canvas_size)  # (64, 64) alpha
    inside = mask >= 1.0
    assert inside.sum() > 30  # the object is a real object, not a speck
    # the object's pixels: exactly those of the same object drawn with no clutter at all
    torch.testing.assert_close(image[:, inside], alone[:, inside], rtol=0, atol=0)
    # ... and of its own colour, under the noise (sigma 0.05)
    colour = torch.as_tensor(where.colour, dtype=torch.float32)[:, None]
    assert (image[:, inside] - colour).abs().mean() < 0.06
    # the whole object lies inside the box, and the box inside the canvas
    x0, y0, x1, y1 = where.box
    assert 0 <= x0 < x1 <= ds.canvas_size and 0 <= y0 < y1 <= ds.canvas_size
    assert mask.sum() == pytest.approx(mask[y0:y1, x0:x1].sum())
    # the clutter is there: outside the object the two images differ
    assert (image != alone).any(dim=0)[mask == 0].float().mean() > 0.01


def test_clutter_is_made_of_fragments_in_the_object_colour_all_over_the_canvas():
    ds = ClutteredShapes(200, seed=2, clutter=8, fragment_size=8)  # denser than the default
    hits = np.zeros((64, 64))
    for i in range(200):
        where = ds.placement(i)
        image = ds.render(i).float().numpy() / 255
        near = np.abs(image - where.colour[:, None, None]).max(axis=0) < 0.2  # object colour
        hits += near & (where.mask(64) == 0)  # ... but not the object: clutter
    assert hits[8:56, 8:56].min() > 0  # every inner pixel is clutter in some image
    assert 0.03 < hits.mean() / 200 < 0.25  # clutter, not a carpet


@pytest.mark.parametrize("canvas_size", [60, 64])
def test_theta_undoes_the_placement(canvas_size):
    """Sampled through ``placement.theta``, the object comes out centred and upright: the
    canonical shape, d(margin x_t, margin y_t) < 0 on the output grid."""
    ds = ClutteredShapes(30, seed=5, canvas_size=canvas_size)
    margin, side = 1.2, 32
    xs, ys = _grid(side)
    u, v = margin * (2 * xs / side - 1), margin * (2 * ys / side - 1)
    for index in range(0, 30, 3):
        where = ds.placement(index)
        theta = where.theta(canvas_size, margin=margin)[None]  # (1, 2, 3)
        mask = torch.as_tensor(where.mask(canvas_size), dtype=torch.float32)[None, None]
        grid = F.affine_grid(theta, [1, 1, side, side], align_corners=False)
        undone = F.grid_sample(mask, grid, align_corners=False)[0, 0].numpy() > 0.5
        canonical = SHAPES[SHAPE_CLASSES[where.label]](u, v) < 0
        iou = (undone & canonical).sum() / (undone | canonical).sum()
        assert iou > 0.85, f"item {index} ({SHAPE_CLASSES[where.label]}): IoU {iou:.2f}"
