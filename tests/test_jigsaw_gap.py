"""The tile geometry of the jigsaw puzzle: the gap between tiles, the jitter, the seeds.

Lesson 07 tests the shortcut explanation of its jigsaw score by training with tiles that never
touch; these tests pin down that "never touch" holds for every puzzle, that the jitter stays in
its bounds, and that a seed gives the same puzzles twice.
"""
import pytest
import torch

from minivision.ssl import JigsawPuzzle, cut_tiles, gap_range, hamming_permutation_set, tile_offsets


def coordinates(side: int) -> torch.Tensor:
    """A (3, side, side) image whose channel 0 holds the row and channel 1 the column."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.stack([rows, cols, torch.zeros_like(rows)]).float()


def gaps(corners: torch.Tensor, *, grid: int, tile: int) -> torch.Tensor:
    """Gaps in pixels between horizontal and vertical neighbours, from (grid*grid, 2) corners."""
    corners = corners.reshape(grid, grid, 2)  # (row of cells, column of cells, (top, left))
    across = corners[:, 1:, 1] - (corners[:, :-1, 1] + tile)  # (grid, grid - 1)
    down = corners[1:, :, 0] - (corners[:-1, :, 0] + tile)  # (grid - 1, grid)
    return torch.cat([across.flatten(), down.flatten()])


@pytest.mark.parametrize("cell, tile, jitter", [(15, 10, 1), (13, 10, 1), (12, 9, 1), (24, 14, 2)])
def test_tiles_never_touch_when_the_smallest_gap_is_positive(cell, tile, jitter):
    smallest, largest = gap_range(cell=cell, tile=tile, jitter=jitter)
    assert smallest >= 1 and smallest == cell - tile - 2 * jitter
    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([gaps(tile_offsets(cell=cell, tile=tile, jitter=jitter, generator=generator),
                           grid=3, tile=tile) for _ in range(300)])
    assert seen.min() >= 1, "two neighbouring tiles touch or overlap"
    assert (seen.min().item(), seen.max().item()) == (smallest, largest)  # the range is tight


def test_tiles_without_jitter_touch_now_and_then():
    # jitter=None: anywhere in the cell; the lesson's 12/10 geometry touches one pair in nine
    assert gap_range(cell=12, tile=10) == (0, 4)
    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([gaps(tile_offsets(cell=12, tile=10, generator=generator), grid=3, tile=10)
                      for _ in range(2000)])
    assert seen.min() == 0 and seen.max() == 4
    assert abs((seen == 0).float().mean().item() - 1 / 9) < 0.01
    assert gap_range(cell=12, tile=12) == (0, 0)  # cell == tile: a plain grid, always touching


@pytest.mark.parametrize("cell, tile, jitter", [(15, 10, 1), (24, 14, 2), (24, 14, 0)])
def test_jitter_stays_within_its_bounds_and_uses_all_of_them(cell, tile, jitter):
    centre = (cell - tile) // 2
    generator = torch.Generator().manual_seed(1)
    index = torch.arange(9)
    origin = torch.stack([index // 3, index % 3], dim=1) * cell  # (9, 2) cell corners
    moves = torch.stack([tile_offsets(cell=cell, tile=tile, jitter=jitter, generator=generator)
                         - origin - centre for _ in range(200)])  # (200, 9, 2)
    assert moves.abs().max() <= jitter
    assert set(moves.flatten().tolist()) == set(range(-jitter, jitter + 1))


def test_cut_tiles_cuts_where_tile_offsets_says():
    # an image already (3 * 15)^2: no resizing, so each pixel still holds its coordinates
    image = coordinates(45)
    for seed in range(5):
        corners = tile_offsets(cell=15, tile=10, jitter=1,
                               generator=torch.Generator().manual_seed(seed))
        tiles = cut_tiles(image, cell=15, tile=10, jitter=1,
                          generator=torch.Generator().manual_seed(seed))  # (9, 3, 10, 10)
        assert tiles.shape == (9, 3, 10, 10)
        torch.testing.assert_close(tiles[:, :2, 0, 0], corners.float(), atol=1e-4, rtol=0)


def puzzle_gaps(puzzle: JigsawPuzzle, image: torch.Tensor, draws: int) -> torch.Tensor:
    """The gaps between neighbours over many puzzles, read from the tiles' coordinates."""
    found = []
    for _ in range(draws):
        shuffled, label = puzzle(image)
        in_order = shuffled[puzzle.permutations[label].argsort()]  # (9, 3, t, t), reading order
        corners = in_order[:, :2, 0, 0].round().long()  # (9, 2) top-left pixels
        found.append(gaps(corners, grid=3, tile=puzzle.tile))
    return torch.cat(found)


def test_puzzle_passes_its_jitter_on_so_its_tiles_never_touch():
    perms = hamming_permutation_set(10, seed=0)
    image = coordinates(39)  # 3 * 13: no resizing
    apart = JigsawPuzzle(perms, cell=13, tile=10, jitter=1, normalize_tiles=False, seed=0)
    assert puzzle_gaps(apart, image, 300).min() >= 1
    # the same cell and tile without a jitter: neighbours do touch, so the check above can fail
    loose = JigsawPuzzle(perms, cell=13, tile=10, normalize_tiles=False, seed=0)
    assert puzzle_gaps(loose, image, 300).min() == 0


def test_the_same_seed_gives_the_same_puzzles():
    perms = hamming_permutation_set(20, seed=1)
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    first = JigsawPuzzle(perms, cell=15, tile=10, jitter=1, seed=5)
    again = JigsawPuzzle(perms, cell=15, tile=10, jitter=1, seed=5)
    other = JigsawPuzzle(perms, cell=15, tile=10, jitter=1, seed=6)
    runs = [[puzzle(image) for _ in range(20)] for puzzle in (first, again, other)]
    for (a, label_a), (b, label_b) in zip(runs[0], runs[1]):
        assert label_a == label_b and torch.equal(a, b)
    assert any(la != lc or not torch.equal(a, c) for (a, la), (c, lc) in zip(runs[0], runs[2]))
    corners = [tile_offsets(cell=15, tile=10, jitter=1, generator=torch.Generator().manual_seed(4))
               for _ in range(2)]
    assert torch.equal(corners[0], corners[1])


def test_impossible_geometry_fails_when_the_puzzle_is_made():
    perms = hamming_permutation_set(5, seed=0)
    with pytest.raises(ValueError, match=r"jitter must be in 0\.\.\(cell - tile\) // 2 = 1"):
        JigsawPuzzle(perms, cell=12, tile=10, jitter=2)
    with pytest.raises(ValueError, match=r"tile must be in 1\.\.cell \(12\)"):
        gap_range(cell=12, tile=13)
