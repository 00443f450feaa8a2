"""Relative patch location: the label says where the neighbour sits; one backbone for both."""
import pytest
import torch
from torch import nn

from minivision.ssl import POSITIONS, RelativePatchLocation, RelativePositionNet


def labelled_grid(cell: int = 24) -> torch.Tensor:
    """A (1, 3*cell, 3*cell) image whose cell (r, c) is filled with the number 3*r + c."""
    rows = torch.arange(3 * cell) // cell
    cols = torch.arange(3 * cell) // cell
    return (3 * rows[:, None] + cols[None, :]).float()[None]


def test_the_label_names_where_the_neighbour_is():
    expected_offset = {"top-left": (-1, -1), "top": (-1, 0), "top-right": (-1, 1),
                       "left": (0, -1), "right": (0, 1), "bottom-left": (1, -1),
                       "bottom": (1, 0), "bottom-right": (1, 1)}
    task = RelativePatchLocation(cell=24, patch=20, seed=0)
    image = labelled_grid(24)  # already 72x72: the resize keeps the cell values
    seen = set()
    for _ in range(200):
        (centre, neighbour), label = task(image)
        assert centre.shape == neighbour.shape == (1, 20, 20)
        assert torch.all(centre == 4), "the centre patch must come from the centre cell only"
        cell = neighbour[0, 0, 0].item()
        assert torch.all(neighbour == cell), "a patch must not cross into another cell"
        dr, dc = expected_offset[POSITIONS[label]]
        assert cell == 3 * (1 + dr) + (1 + dc), (POSITIONS[label], cell)
        seen.add(label)
    assert seen == set(range(8))


def test_net_shares_the_backbone_and_checks_shapes():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
    net = RelativePositionNet(backbone, feature_dim=16, hidden=32)
    centre, neighbour = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    logits = net(centre, neighbour)
    assert logits.shape == (5, 8)
    by_hand = net.head(torch.cat([backbone(centre), backbone(neighbour)], dim=1))
    torch.testing.assert_close(logits, by_hand)
    with pytest.raises(ValueError, match="same shape"):
        net(centre, torch.randn(5, 3, 9, 9))


def test_jitter_keeps_the_gap_between_the_patches():
    # cell 24, patch 12: the patches sit 6 pixels into their cells, +-1, so two horizontal
    # neighbours are 12 +- 2 pixels apart (half a patch or more, as in the paper)
    image = (torch.arange(72)[None, :].float().expand(72, 72))[None]  # value = column
    task = RelativePatchLocation(cell=24, patch=12, jitter=1, seed=0)
    gaps = set()
    for _ in range(100):
        (centre, neighbour), label = task(image)
        if POSITIONS[label] == "right":
            gaps.add(int(neighbour[0, 0, 0] - centre[0, 0, -1]) - 1)  # pixels between them
    assert gaps and gaps <= {10, 11, 12, 13, 14}, gaps
    assert len(gaps) > 1
