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
    FIGURE_DPI,
    FIGURE_WIDTH,
    check_readable,
    overlay_heatmap,
    plot_image_grid,
    plot_overlays,
    to_numpy_image,
    unnormalize,
    use_site_style,
)

# The width of the figure column on the site at 1280 px (measured by tests/site/test_layout.py).
SITE_FIGURE_COLUMN_PX = 866


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


@pytest.fixture
def site_style():
    with matplotlib.rc_context():
        use_site_style()
        yield


def _natural_width_px(fig) -> int:
    """The PNG's width as Jupyter stores it (bbox_inches="tight", the inline backend's)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return Image.open(buffer).size[0]


def test_the_site_style_makes_figures_that_fit_the_column_and_stay_readable(site_style):
    fig, axes = plt.subplots(1, 3)
    for ax in axes:
        ax.plot([0, 1], [1, 0], label="loss")
        ax.set(title="a panel", xlabel="epoch", ylabel="accuracy")
        ax.legend()
    check_readable(fig)
    assert fig.dpi == FIGURE_DPI
    assert _natural_width_px(fig) <= SITE_FIGURE_COLUMN_PX
    plt.close(fig)


def test_check_readable_refuses_wide_figures_and_small_text(site_style):
    wide = plt.figure(figsize=(FIGURE_WIDTH + 2, 2))
    with pytest.raises(ValueError, match="FIGURE_WIDTH"):
        check_readable(wide)
    small = plt.figure(figsize=(4, 2))
    small.text(0.5, 0.5, "tick", fontsize=7)  # 9.7 px at 100 dpi, 6.8 px at 70%
    with pytest.raises(ValueError, match="below 9 px"):
        check_readable(small)
    for f in (wide, small):
        plt.close(f)


@pytest.mark.parametrize("n, ncols, cell_size, rows", [
    (10, 10, 1.1, 1),   # 11 in wide: the images shrink to fit, one row
    (17, 17, 0.8, 2),   # a long strip: below MIN_CELL_SIZE it wraps into rows
    (4, 8, 1.6, 1),     # narrow enough as it is
])
def test_image_grids_fit_the_figure_width(site_style, n, ncols, cell_size, rows):
    fig = plot_image_grid(torch.rand(n, 3, 8, 8), ncols=ncols, cell_size=cell_size,
                          titles=[f"cat {i}" for i in range(n)])
    check_readable(fig)
    assert fig.get_figwidth() <= FIGURE_WIDTH + 1e-9
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == n and len({round(ax.get_position().y0, 3) for ax in shown}) == rows
    assert _natural_width_px(fig) <= SITE_FIGURE_COLUMN_PX
    plt.close(fig)


def test_an_image_divided_by_255_twice_warns_and_names_the_cause():
    """Lesson 02's black figures (issue 15): ``BuiltinShapes(...)[i][0]`` is already a float in
    [0, 1]; dividing it by 255 again makes every value <= 1/255, which imshow shows as black."""
    import warnings

    from minivision.data import BuiltinShapes
    from minivision.plot import DARK_WARNING

    picture = BuiltinShapes(16, seed=0)[2][0]  # (3, 32, 32), float in [0, 1]
    twice = picture.float() / 255  # the old lesson's line
    with pytest.warns(UserWarning, match="divided by 255 twice") as caught:
        plt.close(plot_image_grid([picture, twice], titles=["right", "black"]))
    assert len(caught) == 1 and DARK_WARNING in str(caught[0].message)
    with pytest.warns(UserWarning, match="255 twice"):  # the array a lesson hands imshow
        to_numpy_image(twice)
    with pytest.warns(UserWarning, match="255 twice"):
        overlay_heatmap(twice, torch.rand(32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for what is right, or merely dark
        to_numpy_image(picture)
        to_numpy_image(torch.zeros(3, 8, 8))  # all zero: an empty STN output, say
        to_numpy_image((picture * 255).to(torch.uint8))  # uint8: imshow reads 0..255
        to_numpy_image(twice[0])  # one channel: its colormap rescales it, it is not black
        to_numpy_image(twice * 20)  # dark (max 0.078), but visible


def test_no_lesson_stored_an_almost_black_image_warning():
    """The stored outputs of a full run carry the warning where a lesson showed a black image."""
    import json
    from pathlib import Path

    from minivision.plot import DARK_WARNING

    lessons = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9]*.ipynb"))
    assert lessons
    for path in lessons:
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", ""))
                assert DARK_WARNING not in text, f"{path.name}: {text.strip()[:300]}"
