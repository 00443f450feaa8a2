"""Model M's pretext task: which patches are masked or rotated, and the two-headed ViT."""
import pytest
import torch
import torch.nn.functional as F

from minivision import VisionTransformer
from minivision.ssl import (MaskedRotationViT, mask_and_rotate, masked_rotation_loss, patchify,
                            unpatchify)


def test_patchify_matches_the_vit_patch_order_and_inverts():
    images = torch.randn(2, 3, 32, 32)
    patches = patchify(images, 8)  # (2, 16, 3, 8, 8)
    assert patches.shape == (2, 16, 3, 8, 8)
    for index in range(16):  # reading order: row by row, like the conv patch embedding
        r, c = divmod(index, 4)
        assert torch.equal(patches[:, index], images[:, :, 8 * r:8 * r + 8, 8 * c:8 * c + 8])
    assert torch.equal(unpatchify(patches, 32), images)


def test_half_the_patches_are_corrupted_a_quarter_masked_a_quarter_rotated():
    images = torch.randn(6, 3, 32, 32)
    batch = mask_and_rotate(images, generator=torch.Generator().manual_seed(0))
    assert batch.masked.sum(dim=1).tolist() == [4] * 6
    assert batch.rotated.sum(dim=1).tolist() == [4] * 6
    assert not (batch.masked & batch.rotated).any()
    seen = patchify(batch.inputs, 8)
    for b in range(6):
        k = int(batch.rotation[b])
        for n in range(16):
            original = batch.targets[b, n]
            if batch.masked[b, n]:
                assert torch.all(seen[b, n] == 0)
            elif batch.rotated[b, n]:
                assert torch.equal(seen[b, n], torch.rot90(original, k, dims=(-2, -1)))
            else:
                assert torch.equal(seen[b, n], original)
    assert torch.equal(batch.targets, patchify(images, 8))


def test_different_generators_draw_different_sets_and_every_angle_occurs():
    images = torch.randn(64, 3, 32, 32)
    a = mask_and_rotate(images, generator=torch.Generator().manual_seed(0))
    b = mask_and_rotate(images, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a.masked, b.masked)
    assert set(a.rotation.tolist()) == {0, 1, 2, 3}


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="divisible by patch_size 8"):
        mask_and_rotate(torch.randn(2, 3, 30, 30))
    with pytest.raises(ValueError, match="fewer than 2 in the set A"):
        mask_and_rotate(torch.randn(2, 3, 32, 32), ratio=0.05)


def test_model_heads_and_loss_against_a_direct_computation():
    torch.manual_seed(0)
    vit = VisionTransformer.from_preset("vit_micro_patch8_32", num_classes=10)
    model = MaskedRotationViT(vit)
    images = torch.randn(4, 3, 32, 32)
    batch = mask_and_rotate(images, generator=torch.Generator().manual_seed(2))
    logits, patches = model(batch.inputs)
    assert logits.shape == (4, 4) and patches.shape == (4, 16, 3, 8, 8)
    losses = masked_rotation_loss(logits, patches, batch, pixel_weight=0.5)
    # direct: mean squared error over the masked patches' pixels only
    squared, count = 0.0, 0
    for b in range(4):
        for n in range(16):
            if batch.masked[b, n]:
                squared += ((patches[b, n] - batch.targets[b, n]) ** 2).sum()
                count += patches[b, n].numel()
    expected = F.cross_entropy(logits, batch.rotation) + 0.5 * squared / count
    torch.testing.assert_close(losses["loss"], expected)
    losses["loss"].backward()
    assert vit.embeddings.patch_embed.proj.weight.grad is not None
