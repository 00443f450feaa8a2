"""Relative patch location as a pretext task (Doersch, Gupta & Efros, ICCV 2015).

Take the centre cell of a 3x3 grid and one of its 8 neighbours; show the network both patches
and ask where the second one sits relative to the first. Answering "the wheel is below-left of
the door" needs some idea of what objects look like, and no label.

As in the paper, each patch is a random crop inside its grid cell (a gap between patches and a
jitter of their positions), so the network cannot solve the task by continuing lines across a
shared border. (The paper also fights chromatic aberration, a lens artefact that reveals where a
patch was in the photo; CIFAR-sized images do not have it.)
"""
import torch
from torch import nn

from .jigsaw import cut_tiles

# Label -> the neighbour's cell in reading order of the 3x3 grid (the centre is cell 4).
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
POSITIONS = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom",
             "bottom-right")


class RelativePatchLocation:
    """A transform: image (C, H, W) -> ((centre, neighbour), label), label in 0..7 (``POSITIONS``).

    Args:
        cell: side of a grid cell after resizing the image to 3*cell; patch: side of each patch
            (<= cell; the difference is the gap and the jitter).
        jitter: None: each patch anywhere in its cell; an int j: centred in its cell and moved by
            up to j pixels each way (the paper: a gap of half a patch, a jitter of up to 7 of
            96 pixels). See :func:`~minivision.ssl.cut_tiles`.
        seed: seeds the transform's own generator (None: torch's global one).
    """

    def __init__(self, *, cell: int = 24, patch: int = 20, jitter: int | None = None,
                 seed: int | None = None):
        self.cell, self.patch, self.jitter = cell, patch, jitter
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, image: torch.Tensor):
        tiles = cut_tiles(image, grid=3, cell=self.cell, tile=self.patch, jitter=self.jitter,
                          generator=self.generator)  # (9, C, p, p)
        label = int(torch.randint(len(NEIGHBOURS), (1,), generator=self.generator))
        return (tiles[4], tiles[NEIGHBOURS[label]]), label


class RelativePositionNet(nn.Module):
    """Two patches through one shared backbone, their features concatenated, 8 logits out.

    Args:
        backbone: patches (B, C, p, p) -> features (B, feature_dim).
        feature_dim: the backbone's output width; hidden: width of the MLP.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, *, hidden: int = 512):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Linear(2 * feature_dim, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, len(NEIGHBOURS)))

    def forward(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """centre, neighbour: (B, C, p, p) -> logits over the 8 positions (B, 8)."""
        if centre.shape != neighbour.shape:
            raise ValueError(f"centre and neighbour patches must have the same shape, got "
                             f"{tuple(centre.shape)} and {tuple(neighbour.shape)}.")
        features = self.backbone(torch.cat([centre, neighbour]))  # (2B, F): shared weights
        first, second = features.chunk(2)  # (B, F) each
        return self.head(torch.cat([first, second], dim=1))  # (B, 8)

    def get_classifier(self) -> nn.Module:
        """The pretext head (the whole MLP): what "head" fine-tuning trains."""
        return self.head
