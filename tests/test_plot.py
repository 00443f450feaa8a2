"""minivision.plot: un-normalising, overlays and image grids."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torchvision.transforms import Normalize  # noqa: E402

from minivision.plot import (  # noqa: E402
    CIFAR10_MEAN,
    CIFAR10_STD,
    overlay_heatmap,
    plot_image_grid,
    plot_overlays,
    to_numpy_image,
    unnormalize,
)


def test_unnormalize_inverts_torchvision_normalize():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    normalized = Normalize(CIFAR10_MEAN, CIFAR10_STD)(images)
    torch.testing.assert_close(unnormalize(normalized, CIFAR10_MEAN, CIFAR10_STD), images)
    torch.testing.assert_close(unnormalize(normalized[0], CIFAR10_MEAN, CIFAR10_STD), images[0])
    assert unnormalize(normalized * 10, CIFAR10_MEAN, CIFAR10_STD).max() <= 1.0  # clipped
    with pytest.raises(ValueError, match="channels"):
        unnormalize(images[:, :1], CIFAR10_MEAN, CIFAR10_STD)


def test_overlay_heatmap():
    image = torch.rand(3, 6, 5)
    heat = torch.rand(6, 5)
    assert to_numpy_image(image).shape == (6, 5, 3)
    np.testing.assert_allclose(
        overlay_heatmap(image, heat, alpha=0.0), image.permute(1, 2, 0).numpy(), rtol=1e-6
    )
    colour = matplotlib.colormaps["jet"](
        (heat.numpy() - heat.numpy().min()) / np.ptp(heat.numpy())
    )[..., :3]
    np.testing.assert_allclose(overlay_heatmap(image, heat, alpha=1.0), colour, rtol=1e-6)
    assert overlay_heatmap(image[0], heat).shape == (6, 5, 3)  # grey images become RGB
    with pytest.raises(ValueError, match="upsample"):
        overlay_heatmap(image, torch.rand(3, 3))


def test_figures():
    images = torch.rand(5, 3, 8, 8)
    fig = plot_image_grid(images, titles=list("abcde"), ncols=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    fig2 = plot_image_grid(torch.rand(2, 8, 8))  # one-channel images
    fig3 = plot_overlays(images[:2], torch.rand(2, 8, 8), titles=["x", "y"])
    assert isinstance(fig3, Figure) and len(fig3.axes) == 4
    for f in (fig, fig2, fig3):
        plt.close(f)
    with pytest.raises(ValueError, match="titles"):
        plot_image_grid(images, titles=["a"])
