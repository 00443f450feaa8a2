"""Self-supervised pretext tasks: turn an unlabeled image into (input, target), plus a head."""
from .jigsaw import (JigsawNet, JigsawPuzzle, cut_tiles, hamming_permutation_set,
                     pairwise_hamming)

__all__ = ["JigsawNet", "JigsawPuzzle", "cut_tiles", "hamming_permutation_set", "pairwise_hamming"]
