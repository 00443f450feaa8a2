"""SpatialTransformer and the by-hand sampler (Jaderberg et al. 2015) against torch and analytic results."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from minivision.layers.grid_sample import affine_grid, bilinear_sample
from minivision.layers.stn import SpatialTransformer


def _random_theta(B):
    """Random affine maps that scale, shear and shift, often reading outside the image."""
    return torch.randn(B, 2, 3) * 0.8 + torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")  # the 1-pixel-high grid
@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_grid_matches_torch(align_corners):
    theta = _random_theta(3)
    for size in [(3, 2, 5, 7), (3, 1, 8, 8), (3, 1, 1, 4)]:
        assert_close(affine_grid(theta, size, align_corners), F.affine_grid(theta, list(size), align_corners),
                     atol=1e-5, rtol=0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_bilinear_sample_matches_grid_sample(align_corners):
    images = torch.randn(3, 4, 9, 11, requires_grad=True)
    grid = F.affine_grid(_random_theta(3), [3, 4, 6, 8], align_corners=align_corners)
    grid = grid.clone().requires_grad_(True)
    assert grid.abs().max() > 1.2  # some points lie outside the image: zeros padding is exercised
    ours = bilinear_sample(images, grid, align_corners)
    ref = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
    assert_close(ours, ref, atol=1e-5, rtol=0)
    g = torch.randn_like(ref)
    ours_grads = torch.autograd.grad(ours, (images, grid), g)
    ref_grads = torch.autograd.grad(ref, (images, grid), g)
    assert_close(ours_grads[0], ref_grads[0], atol=1e-5, rtol=0)
    assert_close(ours_grads[1], ref_grads[1], atol=1e-4, rtol=1e-4)


def test_stn_starts_at_identity():
    stn = SpatialTransformer(in_channels=3, image_size=32)
    x = torch.randn(4, 3, 32, 32)
    y, theta = stn(x, return_theta=True)
    assert_close(theta, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(4, 2, 3))
    # At 32x32 the grid coordinates are exact in float32; at sizes such as 28 F.affine_grid's
    # rounding moves the sample points by ~1e-7 pixel and the output by ~1e-5.
    assert_close(y, x, atol=1e-6, rtol=0)


def _stn_with_fixed_theta(theta, image_size=8):
    """An STN whose localisation net outputs ``theta`` for every image (zero weight, bias = theta)."""
    stn = SpatialTransformer(in_channels=1, image_size=image_size)
    with torch.no_grad():
        stn.fc_loc[-1].bias.copy_(torch.tensor(theta, dtype=torch.float32).flatten())
    return stn


@pytest.mark.parametrize("by_hand", [False, True])
def test_known_transforms(by_hand):
    W = 8
    x = torch.randn(2, 1, W, W)

    def transform(theta):
        if not by_hand:
            return _stn_with_fixed_theta(theta, W)(x)
        theta = torch.tensor(theta).expand(2, 2, 3)
        return bilinear_sample(x, affine_grid(theta, x.shape, False), False)

    # Translation: read one pixel (2 / W in normalised units) to the right -> the image moves left.
    shifted = torch.roll(x, shifts=-1, dims=-1)
    shifted[..., -1] = 0.0  # read from outside the image: zeros padding
    assert_close(transform([[1.0, 0.0, 2.0 / W], [0.0, 1.0, 0.0]]), shifted, atol=1e-5, rtol=0)
    # Rotation by 90 degrees: (x_s, y_s) = (-y_t, x_t) is torch.rot90 with k = 1.
    c, s = math.cos(math.pi / 2), math.sin(math.pi / 2)
    assert_close(transform([[c, -s, 0.0], [s, c, 0.0]]), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    # Scale 0.5 zooms into the centre. On the ramp U[n, m] = m, bilinear sampling is exact:
    # output column j reads x_s = 0.5 * u_j with u_j = (2j + 1) / W - 1, i.e. pixel (j - 0.5 + W/2) / 2.
    ramp = torch.arange(W, dtype=torch.float32).expand(2, 1, W, W).clone()
    x = ramp
    expected = ((torch.arange(W) - 0.5 + W / 2) / 2).expand(2, 1, W, W)
    assert_close(transform([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]), expected, atol=1e-5, rtol=0)


def test_gradients_reach_the_localisation_net():
    stn = SpatialTransformer(in_channels=3, image_size=16)
    x = torch.randn(4, 3, 16, 16)
    target = torch.randn(4, 3, 16, 16)
    first_conv, last_fc = stn.localization[0], stn.fc_loc[-1]
    F.mse_loss(stn(x), target).backward()
    # The loss reaches theta, hence the last layer ...
    assert last_fc.weight.grad.abs().sum() > 0 and last_fc.bias.grad.abs().sum() > 0
    # ... but not yet the first conv: it talks to theta only through the last layer's weight,
    # which starts at zero. One optimiser step makes that weight non-zero.
    assert first_conv.weight.grad.abs().sum() == 0
    torch.optim.SGD(stn.parameters(), lr=1e-3).step()  # small: a big step samples outside the image
    stn.zero_grad()
    F.mse_loss(stn(x), target).backward()
    assert first_conv.weight.grad.abs().sum() > 0


def test_bad_inputs_raise():
    stn = SpatialTransformer(in_channels=3, image_size=16)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        stn(torch.randn(3, 16, 16))
    with pytest.raises(ValueError, match="in_channels=1"):
        stn(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match="image_size=32"):
        stn(torch.randn(2, 3, 32, 32))
