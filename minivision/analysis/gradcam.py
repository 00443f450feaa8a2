"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", eqs. 1-2), for CNNs and Vision Transformers (lesson 07).

For a class score y^c and the activations A^k (k = 1..C channels, on an h x w grid) of a layer:

    alpha_k^c = 1/(h w) sum_{i,j} d y^c / d A^k_{ij}      (eq. 1: how much channel k matters)
    L^c       = ReLU( sum_k alpha_k^c A^k )                (eq. 2: where it matters, positives only)

L^c is then upsampled to the image size and scaled to [0, 1].

A ViT has no channel grid, but its patch tokens are one: the tokens (B, N, D) of a layer, without
the prefix ([CLS]) tokens, are folded into (B, D, g, g) and the same two equations apply
(as in Gildenblat's pytorch-grad-cam for ViTs). Which layer matters: in a [CLS]-pooled ViT the
head reads only token 0 of the final LayerNorm, and the last block's MLP works on each token
separately, so the last block's *output* has zero gradient at every patch token and the map would
be empty. The default is therefore the last block's ``norm1`` output, the input of the last
attention: there the [CLS] query still mixes the patch tokens, so each patch gets a gradient.

The model says which layer that is (``model.gradcam_layer()``) and how many prefix tokens it has
(``model.num_prefix_tokens``); see :mod:`minivision.models.protocol`.
"""

import torch
from torch import nn

from ..models.protocol import require
from .hooks import capture_output, eval_mode, to_model_device
from .grid import normalize_maps, tokens_to_feature_map, upsample


class GradCAM:
    """Grad-CAM heatmaps for a classifier.

    Args:
        model: a classifier: images (B, C, H, W) -> logits (B, num_classes).
        target_layer: the module whose output is explained: a conv layer / stage of a CNN
            (output (B, C, h, w)), or a module of a ViT with token output (B, N, D). None: the
            layer the model names in ``model.gradcam_layer()`` (a ViT: its last block's
            ``norm1``, see the module docstring for why not the block output; a ResNet: its
            last stage).
        num_prefix_tokens: for token outputs, the tokens before the patches; None asks
            ``model.num_prefix_tokens`` (0 if the model does not say).
        grid_size: for token outputs, g or (g_h, g_w); None infers a square grid.

    No hook outlives a call: each call registers one forward hook and removes it before
    returning (also on error). ``cam = GradCAM(model); heatmaps = cam(images, target=3)``.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: nn.Module | None = None,
        *,
        num_prefix_tokens: int | None = None,
        grid_size: int | tuple[int, int] | None = None,
    ):
        if target_layer is None:
            require(model, "gradcam_layer", purpose="GradCAM with no target_layer",
                    hint="Pass the target_layer, e.g. GradCAM(resnet, resnet.layer4).")
            target_layer = model.gradcam_layer()
        if num_prefix_tokens is None:
            num_prefix_tokens = getattr(model, "num_prefix_tokens", 0)
        self.model = model
        self.target_layer = target_layer
        self.num_prefix_tokens = num_prefix_tokens
        self.grid_size = grid_size

    def __call__(
        self, images: torch.Tensor, target: int | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Args:
            images: (B, C, H, W).
            target: the class to explain: an int for all images, a (B,) tensor, or None for each
                image's predicted class.

        Returns:
            heatmaps (B, H, W) in [0, 1] (all zeros where no location has a positive weight).
        """
        if images.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got {tuple(images.shape)}.")
        images = to_model_device(self.model, images)
        with (
            eval_mode(self.model),
            torch.enable_grad(),
            capture_output(self.target_layer, detach=False) as outputs,
        ):
            logits = self.model(images)  # (B, num_classes)
            if not outputs:
                raise ValueError(
                    "the target layer was not called in the forward pass; pick one the model uses."
                )
            activation = outputs[-1]  # (B, C, h, w) or (B, N, D)
            if activation._version != outputs.versions[-1]:
                raise ValueError(
                    "the target layer's output was changed in place later in the forward pass "
                    "(e.g. by nn.ReLU(inplace=True)), so its gradient would be the wrong one; "
                    "choose the layer after that op (the ReLU, or the whole block/stage)."
                )
            target = self._targets(logits, target)  # (B,)
            # In eval mode the images do not interact, so the gradient of the summed scores with
            # respect to image b's activation is the gradient of image b's own score.
            score = logits.gather(1, target[:, None]).sum()
            (grads,) = torch.autograd.grad(score, activation)
        return self.cam(activation.detach(), grads, tuple(images.shape[-2:]))

    def cam(
        self, activation: torch.Tensor, grads: torch.Tensor, image_size: tuple[int, int]
    ) -> torch.Tensor:
        """Eqs. 1-2 on an activation and its gradient, then upsample and scale.

        Args:
            activation, grads: (B, C, h, w), or (B, N, D) tokens (folded to (B, D, g, g)).
            image_size: (H, W).

        Returns:
            (B, H, W) in [0, 1].
        """
        if activation.dim() == 3:
            activation = tokens_to_feature_map(
                activation, self.grid_size, self.num_prefix_tokens
            )  # (B, D, g, g)
            grads = tokens_to_feature_map(
                grads, self.grid_size, self.num_prefix_tokens
            )  # (B, D, g, g)
        if activation.dim() != 4:
            raise ValueError(
                f"Grad-CAM needs a (B, C, h, w) or (B, N, D) activation, the target layer gave "
                f"{tuple(activation.shape)}."
            )
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): alpha_k, eq. 1
        cam = (weights * activation).sum(dim=1)  # (B, h, w)
        cam = cam.clamp_min(0.0)  # ReLU: keep what raises the score, eq. 2
        cam = upsample(cam, image_size)  # (B, H, W)
        return normalize_maps(cam)

    @staticmethod
    def _targets(logits: torch.Tensor, target) -> torch.Tensor:
        B, num_classes = logits.shape
        if target is None:
            return logits.argmax(dim=1)  # (B,)
        target = torch.as_tensor(target, device=logits.device, dtype=torch.long).reshape(-1)
        if target.numel() not in (1, B):
            raise ValueError(
                f"target must be one class or one per image ({B}), got {target.numel()} values."
            )
        target = target.expand(B)  # (B,)
        if (target < 0).any() or (target >= num_classes).any():
            raise ValueError(
                f"target classes must be in [0, {num_classes}), got {target.tolist()}."
            )
        return target
