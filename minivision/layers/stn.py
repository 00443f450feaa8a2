"""The Spatial Transformer (Jaderberg et al. 2015, "Spatial Transformer Networks").

A small network looks at the image and predicts an affine transform theta (2 x 3); the image is
then resampled through that transform, so that the classifier behind it sees a straightened,
centred, zoomed crop:

    theta = f_loc(U)                      localisation network (sec. 3.1)
    grid  = theta (x^t, y^t, 1)^T         grid generator, eq. 1   -> F.affine_grid
    V     = bilinear sample of U at grid  sampler, eq. 5          -> F.grid_sample

Both steps are differentiable in theta, so the localisation network learns from the classifier's
loss alone, with no label saying what the transform should be. Its last layer starts at zero
weight and identity bias: at initialisation the STN returns its input unchanged (the paper's
advice, sec. 4.1), and the classifier behind it is not handed garbage at the start of training.
:mod:`minivision.layers.grid_sample` writes the two steps out by hand.
"""
import torch
import torch.nn.functional as F
from torch import nn


class SpatialTransformer(nn.Module):
    """Localisation net -> theta (B, 2, 3) -> affine grid -> bilinear sampling.

    Args:
        in_channels: channels C of the input images.
        image_size: height and width of the (square) input images; the output has the same size.
        hidden_channels: channels of the localisation net's two conv layers.
        hidden_features: width of its hidden fully connected layer.
        align_corners: passed to ``F.affine_grid`` and ``F.grid_sample`` (False: PyTorch's default).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        image_size: int = 32,
        hidden_channels: tuple[int, int] = (8, 16),
        hidden_features: int = 32,
        align_corners: bool = False,
    ):
        super().__init__()
        if image_size < 4:
            raise ValueError(f"image_size must be at least 4 (two 2x2 poolings), got {image_size}.")
        self.in_channels = in_channels
        self.image_size = image_size
        self.align_corners = align_corners
        c1, c2 = hidden_channels
        self.localization = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        side = image_size // 2 // 2  # two 2x2 max-pools
        self.fc_loc = nn.Sequential(
            nn.Linear(c2 * side * side, hidden_features),
            nn.ReLU(),
            nn.Linear(hidden_features, 6),  # the six numbers of theta
        )
        self.init_weights()

    def init_weights(self):
        """Start at the identity transform: the last layer outputs theta = [[1, 0, 0], [0, 1, 0]]
        whatever the image (zero weight, identity bias; Jaderberg et al. 2015, sec. 4.1)."""
        last = self.fc_loc[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def predict_theta(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            theta, (B, 2, 3): the affine map from output to input coordinates.
        """
        self._check_input(x)
        features = self.localization(x)  # (B, c2, H/4, W/4)
        features = features.flatten(1)  # (B, c2 * H/4 * W/4)
        theta = self.fc_loc(features)  # (B, 6)
        return theta.reshape(-1, 2, 3)  # (B, 2, 3)

    def forward(self, x: torch.Tensor, *, return_theta: bool = False):
        """Args:
            x: images, (B, C, H, W) with C = ``in_channels`` and H = W = ``image_size``.
            return_theta: also return the predicted transforms.

        Returns:
            the resampled images, (B, C, H, W); with ``return_theta=True`` the pair
            ``(images, theta)``, theta (B, 2, 3).
        """
        theta = self.predict_theta(x)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=self.align_corners)  # (B, H, W, 2)
        x = F.grid_sample(
            x, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners
        )  # (B, C, H, W)
        if return_theta:
            return x, theta
        return x

    def _check_input(self, x: torch.Tensor):
        if x.dim() != 4:
            raise ValueError(
                f"SpatialTransformer expects images of shape (B, C, H, W), got {tuple(x.shape)}. "
                f"For a single image use x.unsqueeze(0)."
            )
        _, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(
                f"SpatialTransformer was built for {self.in_channels} channels, got {C} "
                f"(input shape {tuple(x.shape)}). Build it with in_channels={C}."
            )
        if H != self.image_size or W != self.image_size:
            raise ValueError(
                f"SpatialTransformer was built for {self.image_size}x{self.image_size} images, got "
                f"{H}x{W}: its localisation net's linear layer fixes the size. Resize the "
                f"images or "
                f"build it with image_size={H}."
            )
