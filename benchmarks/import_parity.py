"""Weight import: minivision's ViT built from a random HF, timm or torchvision ViT gives the same
logits as the source model. Prints the largest absolute difference per source and size.

    HF_HUB_OFFLINE=1 python benchmarks/import_parity.py
"""
import timm
import torch
import torchvision
from transformers import ViTConfig as HFConfig
from transformers import ViTForImageClassification

from minivision.models.vit_import import load_hf, load_timm, load_torchvision

SIZES = {"32x32, patch 4, width 64": (32, 4, 64, 4), "224x224, patch 16, width 192": (224, 16, 192, 3)}


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Every weight N(0, 0.2): no zero-initialised head or bias can hide a wrong mapping."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


@torch.no_grad()
def main():
    torch.manual_seed(0)
    for size, (image, patch, width, heads) in SIZES.items():
        x = torch.randn(4, 3, image, image)
        reference = randomise(timm.create_model(
            "vit_tiny_patch16_224", pretrained=False, img_size=image, patch_size=patch,
            embed_dim=width, depth=2, num_heads=heads, num_classes=10))
        diff = (load_timm(reference).eval()(x) - reference(x)).abs().max().item()
        print(f"timm        {size}: max abs diff {diff:.2e}")
        reference = randomise(ViTForImageClassification(HFConfig(
            image_size=image, patch_size=patch, hidden_size=width, num_hidden_layers=2,
            num_attention_heads=heads, intermediate_size=4 * width, num_labels=10)))
        diff = (load_hf(reference).eval()(x) - reference(x).logits).abs().max().item()
        print(f"HF          {size}: max abs diff {diff:.2e}")
    reference = randomise(torchvision.models.vit_b_16(weights=None))
    x = torch.randn(2, 3, 224, 224)
    diff = (load_torchvision(reference).eval()(x) - reference(x)).abs().max().item()
    print(f"torchvision ViT-B/16 224x224: max abs diff {diff:.2e}")


if __name__ == "__main__":
    main()
