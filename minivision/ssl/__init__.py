"""Self-supervised pretext tasks: turn an unlabeled image into (input, target), plus a head."""
from .jigsaw import (JigsawNet, JigsawPuzzle, cut_tiles, gap_range, hamming_permutation_set,
                     pairwise_hamming, tile_offsets)
from .masked_rotation import (MaskedRotationBatch, MaskedRotationTask, MaskedRotationViT,
                              mask_and_rotate, masked_rotation_loss, patchify, unpatchify)
from .relative_position import (NEIGHBOURS, POSITIONS, RelativePatchLocation,
                                RelativePositionNet)

__all__ = [
    "NEIGHBOURS", "POSITIONS", "JigsawNet", "JigsawPuzzle", "RelativePatchLocation",
    "RelativePositionNet", "cut_tiles", "gap_range", "hamming_permutation_set",
    "pairwise_hamming", "tile_offsets",
    "MaskedRotationBatch", "MaskedRotationTask", "MaskedRotationViT", "mask_and_rotate",
    "masked_rotation_loss", "patchify", "unpatchify",
]
