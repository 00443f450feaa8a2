"""A captioner that looks, without having learned anything: captions from pixel statistics.

Lesson 10 needs captions offline, where BLIP cannot be downloaded. A random BLIP writes the same
sentence for every image, which makes "the image's own caption" and "another image's caption" the
same experiment. This captioner instead describes what a cheap, hand-written model can see in
the pixels, and nothing else:

    brightness      mean luminance Y = 0.299 R + 0.587 G + 0.114 B       "a dark picture"
    colours         the two most common colour names of the pixels        "mostly grey and blue"
    object mass     size and centroid of the pixels unlike the border     "a large mass at the left"
    texture         mean luminance gradient |dY/dx| + |dY/dy|            "smooth" / "busy"
    orientation     horizontal against vertical gradient energy          "horizontal lines"
    light           upper half against lower half                        "lighter above"

Every caption is a deterministic function of the image's pixels, and its words come from the
fixed lists below, none of which names an object (tests/test_text.py checks them against
:data:`minivision.text.CIFAR10_SYNONYMS`). So the captions differ between images, carry some
information about them, and cannot leak a class name.
"""
import torch

from .captioning import check_image_tensor

COLOUR_NAMES = ("black", "grey", "white", "red", "orange", "yellow", "green", "teal", "blue",
                "purple", "pink", "brown")
# Hue bins in degrees (upper bounds) for saturated pixels; hues from 330 wrap round to red.
_HUE_BINS = ((20, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (200, "teal"),
             (260, "blue"), (300, "purple"), (330, "pink"), (360, "red"))
_BRIGHTNESS = ((0.25, "very dark"), (0.38, "dark"), (0.52, "medium"), (0.65, "bright"),
               (2.0, "very bright"))
_TEXTURE = ((0.06, "smooth"), (0.1, "soft"), (0.16, "textured"), (10.0, "busy"))


def colour_names(images: torch.Tensor) -> torch.Tensor:
    """The colour name of every pixel, as an index into ``COLOUR_NAMES``.

    Args:
        images: (B, 3, H, W) floats in [0, 1].

    Returns:
        (B, H, W) long tensor. Unsaturated pixels are black, grey or white by their value;
        the others are named by hue, and dark reds and oranges are brown.
    """
    r, g, b = images.unbind(dim=1)  # each (B, H, W)
    value, _ = images.max(dim=1)  # (B, H, W)
    low, _ = images.min(dim=1)
    saturation = (value - low) / value.clamp_min(1e-6)
    hue = _hue_degrees(r, g, b, value, value - low)  # (B, H, W), in [0, 360)
    name = torch.full_like(hue, -1, dtype=torch.long)
    upper_previous = 0
    for upper, colour in _HUE_BINS:
        in_bin = (hue >= upper_previous) & (hue < upper)
        name[in_bin] = COLOUR_NAMES.index(colour)
        upper_previous = upper
    warm = (name == COLOUR_NAMES.index("red")) | (name == COLOUR_NAMES.index("orange"))
    name[warm & (value < 0.6)] = COLOUR_NAMES.index("brown")
    grey = saturation < 0.2
    name[grey] = COLOUR_NAMES.index("grey")
    name[grey & (value < 0.25)] = COLOUR_NAMES.index("black")
    name[grey & (value > 0.8)] = COLOUR_NAMES.index("white")
    return name


def _hue_degrees(r, g, b, value, chroma):
    """The HSV hue of every pixel, in degrees [0, 360) (0 where the pixel is grey)."""
    chroma = chroma.clamp_min(1e-6)
    hue = torch.where(value == r, ((g - b) / chroma) % 6,
                      torch.where(value == g, (b - r) / chroma + 2, (r - g) / chroma + 4))
    return (60 * hue) % 360


def describe_images(images: torch.Tensor) -> list[str]:
    """A caption for each image from its pixel statistics (see the module's table).

    Args:
        images: (B, 3, H, W) floats in [0, 1] (before any normalisation).

    Returns:
        B captions such as "a dark picture, mostly grey and blue, a large mass at the left,
        smooth, horizontal lines, lighter above". The same image always gets the same caption.
    """
    check_image_tensor(images)
    if images.shape[1] != 3:
        raise ValueError(
            f"describe_images needs RGB images (B, 3, H, W), got {tuple(images.shape)}."
        )
    images = images.float().cpu()
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]  # (B, H, W)
    colours = _top_colours(images)
    masses = _object_mass(images)
    textures = _texture_and_orientation(luma)
    H = luma.shape[1]
    upper, lower = luma[:, : H // 2].mean(dim=(1, 2)), luma[:, H // 2 :].mean(dim=(1, 2))
    captions = []
    for i in range(len(images)):
        brightness = _bin(float(luma[i].mean()), _BRIGHTNESS)
        light = "evenly lit" if abs(upper[i] - lower[i]) < 0.05 else (
            "lighter above" if upper[i] > lower[i] else "lighter below")
        parts = [f"a {brightness} picture", colours[i], masses[i], textures[i], light]
        captions.append(", ".join(parts))
    return captions


def _bin(value: float, bins) -> str:
    """The word of the first bin whose upper bound exceeds ``value``."""
    return next(word for upper, word in bins if value < upper)


def _top_colours(images: torch.Tensor) -> list[str]:
    """'mostly grey and blue' (or 'mostly grey' when one name covers 70% of the pixels)."""
    names = colour_names(images).flatten(1)  # (B, H*W)
    counts = torch.stack([(names == k).sum(dim=1) for k in range(len(COLOUR_NAMES))], dim=1)
    share = counts.float() / names.shape[1]  # (B, K)
    top = share.topk(2, dim=1)  # ties go to the lower index: deterministic
    phrases = []
    for (first, second), (s1, _) in zip(top.indices.tolist(), top.values.tolist()):
        if s1 >= 0.7:
            phrases.append(f"mostly {COLOUR_NAMES[first]}")
        else:
            phrases.append(f"mostly {COLOUR_NAMES[first]} and {COLOUR_NAMES[second]}")
    return phrases


def _object_mass(images: torch.Tensor) -> list[str]:
    """Where the pixels unlike the border sit: 'a large mass at the top left'."""
    B, _, H, W = images.shape
    border = torch.cat([images[:, :, 0], images[:, :, -1], images[:, :, :, 0], images[:, :, :, -1]],
                       dim=2).mean(dim=2)  # (B, 3): the mean colour of the frame
    distance = (images - border[:, :, None, None]).norm(dim=1)  # (B, H, W)
    weight = distance / distance.sum(dim=(1, 2), keepdim=True).clamp_min(1e-6)
    ys = torch.linspace(0, 1, H)[None, :, None]
    xs = torch.linspace(0, 1, W)[None, None, :]
    cy, cx = (weight * ys).sum(dim=(1, 2)), (weight * xs).sum(dim=(1, 2))  # (B,) each
    size = (distance > 0.25).float().mean(dim=(1, 2))  # (B,): share of pixels unlike the frame
    phrases = []
    for y, x, s in zip(cy.tolist(), cx.tolist(), size.tolist()):
        vertical = "top" if y < 0.45 else "bottom" if y > 0.55 else ""
        horizontal = "left" if x < 0.45 else "right" if x > 0.55 else ""
        where = " ".join(w for w in (vertical, horizontal) if w)
        where = f"at the {where}" if where else "in the centre"
        big = "small" if s < 0.25 else "medium" if s < 0.5 else "large"
        phrases.append(f"a {big} mass {where}")
    return phrases


def _texture_and_orientation(luma: torch.Tensor) -> list[str]:
    """'smooth, horizontal lines': mean gradient size, and which direction dominates."""
    dy = (luma[:, 1:, :] - luma[:, :-1, :]).abs().mean(dim=(1, 2))  # (B,): change down the rows
    dx = (luma[:, :, 1:] - luma[:, :, :-1]).abs().mean(dim=(1, 2))  # (B,): change along a row
    phrases = []
    for gy, gx in zip(dy.tolist(), dx.tolist()):
        texture = _bin(gx + gy, _TEXTURE)
        # edges run across the direction of change: changing down the rows = horizontal lines
        if gy > 1.25 * gx:
            lines = "horizontal lines"
        elif gx > 1.25 * gy:
            lines = "vertical lines"
        else:
            lines = "no main direction"
        phrases.append(f"{texture}, {lines}")
    return phrases


__all__ = ["COLOUR_NAMES", "colour_names", "describe_images"]
