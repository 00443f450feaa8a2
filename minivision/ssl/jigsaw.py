"""Jigsaw puzzles as a pretext task (Noroozi & Favaro, ECCV 2016).

Cut an image into a 3x3 grid of tiles, shuffle them by one of P fixed permutations, and train a
network to say which permutation it was. To solve it the network must know what the parts of
objects look like and where they go: no label is needed.

Two details make the puzzle about content rather than shortcuts:

- **The permutation set** is chosen so that its members are far apart in Hamming distance (the
  number of positions where two permutations differ): similar permutations would make classes
  the network cannot tell apart. ``hamming_permutation_set`` picks them greedily.
- **Gap and jitter**: each tile is a random ``tile x tile`` crop inside its ``cell x cell`` grid
  cell, so neighbouring tiles seldom share an edge and their borders cannot simply be matched.
  With a jitter j small enough (``gap_range``: ``cell - tile - 2 j >= 1``) they never do.
"""
import itertools

import torch
import torch.nn.functional as F
from torch import nn


def hamming_permutation_set(num_permutations: int = 1000, num_tiles: int = 9, *,
                            criterion: str = "min", seed: int = 0) -> torch.Tensor:
    """P permutations of ``num_tiles`` tiles, far apart in Hamming distance, chosen greedily.

    Start from one random permutation; then repeatedly add the permutation whose distance to the
    set chosen so far is largest: its *minimum* distance to any chosen one (``criterion="min"``,
    which keeps every pair apart), or its *mean* distance (``"mean"``, the paper's code). Ties go
    to the earliest in a random order fixed by ``seed``.

    Returns:
        (P, num_tiles) long tensor; row p is the order in which tiles are shown for class p.
    """
    candidates = torch.tensor(list(itertools.permutations(range(num_tiles))), dtype=torch.uint8)
    if not 1 <= num_permutations <= len(candidates):
        raise ValueError(f"num_permutations must be in 1..{len(candidates)} ({num_tiles}!), "
                         f"got {num_permutations}.")
    if criterion not in ("min", "mean"):
        raise ValueError(f"criterion must be 'min' or 'mean', got {criterion!r}.")
    generator = torch.Generator().manual_seed(seed)
    candidates = candidates[torch.randperm(len(candidates), generator=generator)]  # tie order
    # score[i]: min (or summed) distance of candidate i to the chosen set; -1 marks chosen ones
    score = torch.full((len(candidates),), num_tiles if criterion == "min" else 0, dtype=torch.int32)
    chosen = [0]  # the first candidate of the random order: a random permutation
    for _ in range(num_permutations - 1):
        distance = (candidates != candidates[chosen[-1]]).sum(dim=1, dtype=torch.int32)  # (n!,)
        score = torch.minimum(score, distance) if criterion == "min" else score + distance
        score[chosen] = -1
        chosen.append(int(score.argmax()))  # argmax returns the first maximum
    return candidates[chosen].long()


def pairwise_hamming(permutations: torch.Tensor) -> torch.Tensor:
    """(P, P) Hamming distances between the rows of a (P, n) tensor."""
    return (permutations[:, None, :] != permutations[None, :, :]).sum(dim=-1)


def _check_geometry(cell: int, tile: int, jitter: int | None) -> None:
    if not 1 <= tile <= cell:
        raise ValueError(f"tile must be in 1..cell ({cell}), got {tile}.")
    centre = (cell - tile) // 2
    if jitter is not None and not 0 <= jitter <= centre:
        raise ValueError(f"jitter must be in 0..(cell - tile) // 2 = {centre}, got {jitter}; "
                         "use a larger cell or a smaller tile.")


def gap_range(*, cell: int, tile: int, jitter: int | None = None) -> tuple[int, int]:
    """The smallest and largest gap, in pixels, between two neighbouring tiles of ``cut_tiles``.

    Two tiles side by side start ``cell`` pixels apart, plus the difference of their offsets, so
    the gap is ``cell - tile + (offset2 - offset1)``: 0 to 2 (cell - tile) without a jitter
    (the tiles touch when the first sits at the end of its cell and the second at the start),
    ``cell - tile - 2 j`` to ``cell - tile + 2 j`` with a jitter j. The tiles never touch when the
    smallest gap is at least 1.
    """
    _check_geometry(cell, tile, jitter)
    if jitter is None:
        return 0, 2 * (cell - tile)
    return cell - tile - 2 * jitter, cell - tile + 2 * jitter


def tile_offsets(*, grid: int = 3, cell: int = 24, tile: int = 20, jitter: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Where ``cut_tiles`` cuts: the top-left corner (row, col) of each tile, in reading order.

    Args: as :func:`cut_tiles`.

    Returns:
        (grid*grid, 2) long, in pixels of the resized (grid*cell)^2 image.
    """
    _check_geometry(cell, tile, jitter)
    centre = (cell - tile) // 2
    low, high = (0, cell - tile) if jitter is None else (centre - jitter, centre + jitter)
    offsets = torch.randint(low, high + 1, (grid * grid, 2), generator=generator)  # (9, 2)
    index = torch.arange(grid * grid)
    cell_origin = torch.stack([index // grid, index % grid], dim=1) * cell  # (9, 2)
    return cell_origin + offsets


def cut_tiles(image: torch.Tensor, *, grid: int = 3, cell: int = 24, tile: int = 20,
              jitter: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Resize an image to (grid*cell)^2 and cut a random tile x tile crop from each grid cell.

    Args:
        image: (C, H, W) float.
        grid: tiles per side (3 for the 3x3 puzzle).
        cell: side of a grid cell after resizing; tile: side of a tile (<= cell). The difference
            is the gap and the jitter (:func:`gap_range`; cell == tile: the tiles touch).
        jitter: None (Noroozi & Favaro): offsets uniform in [0, cell - tile], anywhere in the cell.
            An int j (Doersch et al.): the tile is centred in its cell, then moved by up to j
            pixels each way, so the gap between neighbours stays near cell - tile;
            0 <= j <= (cell - tile) // 2.
        generator: the offsets' random numbers (None: torch's global generator).

    Returns:
        (grid*grid, C, tile, tile), in reading order (row by row).
    """
    if image.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(image.shape)}.")
    corners = tile_offsets(grid=grid, cell=cell, tile=tile, jitter=jitter,
                           generator=generator)  # (9, 2)
    side = grid * cell
    resized = F.interpolate(image[None], size=(side, side), mode="bilinear", align_corners=False,
                            antialias=True)[0]  # (C, side, side)
    tiles = [resized[:, top:top + tile, left:left + tile] for top, left in corners.tolist()]
    return torch.stack(tiles)  # (grid*grid, C, tile, tile)


class JigsawPuzzle:
    """A transform: image (C, H, W) -> (shuffled tiles (9, C, t, t), permutation index).

    Tile k of the output is tile ``permutations[label][k]`` of the image. Each tile is normalised
    to zero mean and unit variance on its own (as in the paper) so that colour and brightness
    statistics do not give the position away.

    Args:
        permutations: (P, 9) from :func:`hamming_permutation_set`; row p is class p.
        cell, tile, jitter: the geometry of :func:`cut_tiles`. The default jitter (None) puts
            each tile anywhere in its cell, so neighbours touch now and then; a jitter j with
            ``cell - tile - 2 j >= 1`` keeps every pair apart (:func:`gap_range`).
        normalize_tiles: standardise each tile on its own.
        seed: seeds the puzzle's own generator (None: torch's global one).
    """

    def __init__(self, permutations: torch.Tensor, *, cell: int = 24, tile: int = 20,
                 jitter: int | None = None, normalize_tiles: bool = True,
                 seed: int | None = None):
        self.permutations = permutations
        self.grid = int(round(permutations.shape[1] ** 0.5))
        if self.grid ** 2 != permutations.shape[1]:
            raise ValueError(f"permutations must have a square number of tiles, got "
                             f"{permutations.shape[1]}.")
        self.cell, self.tile, self.jitter = cell, tile, jitter
        self.normalize_tiles = normalize_tiles
        _check_geometry(cell, tile, jitter)  # fail now, not at the first image
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, int]:
        tiles = cut_tiles(image, grid=self.grid, cell=self.cell, tile=self.tile,
                          jitter=self.jitter, generator=self.generator)  # (9, C, t, t)
        if self.normalize_tiles:
            mean = tiles.mean(dim=(1, 2, 3), keepdim=True)
            std = tiles.std(dim=(1, 2, 3), keepdim=True)
            tiles = (tiles - mean) / (std + 1e-5)
        label = int(torch.randint(len(self.permutations), (1,), generator=self.generator))
        return tiles[self.permutations[label]], label


class JigsawNet(nn.Module):
    """The context-free network: one shared backbone per tile, then an MLP over all of them.

    Args:
        backbone: maps tiles (B*9, C, t, t) to features (B*9, feature_dim).
        feature_dim: the backbone's output width.
        num_permutations: P, the number of classes.
        num_tiles: tiles per puzzle (9).
        hidden: width of the MLP over the concatenated tile features.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_permutations: int, *,
                 num_tiles: int = 9, hidden: int = 512):
        super().__init__()
        self.backbone, self.num_tiles = backbone, num_tiles
        self.head = nn.Sequential(nn.Linear(num_tiles * feature_dim, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_permutations))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """tiles (B, 9, C, t, t) -> logits over the permutations (B, P)."""
        if tiles.ndim != 5 or tiles.shape[1] != self.num_tiles:
            raise ValueError(f"expected tiles (B, {self.num_tiles}, C, t, t), got shape "
                             f"{tuple(tiles.shape)}.")
        B = tiles.shape[0]
        features = self.backbone(tiles.flatten(0, 1))  # (B*9, F): the same weights for every tile
        return self.head(features.reshape(B, -1))  # (B, 9*F) -> (B, P)

    def get_classifier(self) -> nn.Module:
        """The pretext head (the whole MLP): what "head" fine-tuning trains."""
        return self.head
