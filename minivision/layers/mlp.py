"""The transformer's position-wise feed-forward network (Vaswani et al. 2017, eq. 2; ViT eq. 3).

Two linear layers with a GELU between them, applied to every token on its own:
    MLP(x) = W_2 GELU(W_1 x + b_1) + b_2,   hidden width = mlp_ratio * D (ViT: 4D).
"""
import torch
from torch import nn


class Mlp(nn.Module):
    """Linear -> GELU -> dropout -> Linear -> dropout.

    Args:
        in_features: input width D.
        hidden_features: hidden width (ViT: 4 * D).
        out_features: output width; defaults to ``in_features``.
        dropout: dropout after the activation and after the second layer (training only).
    """

    def __init__(
        self, *, in_features: int, hidden_features: int, out_features: int | None = None, dropout: float = 0.0
    ):
        super().__init__()
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()  # exact (erf) GELU, as in the original ViT, timm and HF
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: (B, N, D).

        Returns:
            (B, N, out_features).
        """
        x = self.fc1(x)  # (B, N, hidden)
        x = self.act(x)
        x = self.drop1(x)
        x = self.fc2(x)  # (B, N, out)
        x = self.drop2(x)
        return x
