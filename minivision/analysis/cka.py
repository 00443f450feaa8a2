"""Centred Kernel Alignment (Kornblith et al. 2019, "Similarity of Neural Network Representations
Revisited", ICML), used in lesson 08 to compare layers before and after attention.

Two representations of the same n examples, X (n, p1) and Y (n, p2), are compared through their
Gram matrices K = X X^T and L = Y Y^T. With the centring matrix H = I - 1 1^T / n,

    HSIC(K, L) = tr(K H L H) / (n - 1)^2                       (Gretton et al. 2005)
    CKA(K, L)  = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))       (Kornblith et al. 2019)

and for the linear kernel, with the columns of X and Y centred, this is (the (n-1)^2 cancels)

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F).

It is 1 for identical representations, invariant to orthogonal transforms and isotropic scaling
of either side, but not to arbitrary invertible linear maps: a measure invariant to those cannot
tell two representations apart once their width reaches the number of examples, which is the
usual case for network layers.

For many examples, :class:`MinibatchCKA` accumulates an unbiased HSIC estimator (Song et al.
2012) over minibatches (Nguyen et al. 2021, "Do Wide and Deep Networks Learn the Same Things?").
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch


def _as_matrix(x: torch.Tensor, name: str) -> torch.Tensor:
    """(n, ...) features -> (n, p) float64: one example's features (all its tokens) form a row."""
    if x.dim() < 2:
        raise ValueError(f"{name} must be (n, p) or (n, ...) features, got shape {tuple(x.shape)}.")
    return x.detach().reshape(x.shape[0], -1).double()  # (n, p)


def linear_cka(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Linear CKA between two representations of the same n examples (Kornblith et al. 2019).

    Args:
        X: (n, p1); (n, ...) is flattened to (n, p1), e.g. hidden states (n, N, D) -> (n, N*D).
        Y: (n, p2), the same examples in the same order.

    Returns:
        a float64 scalar tensor in [0, 1]. Computed with the cheaper of the two equal forms:
        feature space ||Y^T X||_F^2 (p1 x p2 products) or example space <K, L>_F (n x n Gram
        matrices, when n is smaller than the widths).
    """
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must hold the same examples: got n={X.shape[0]} and n={Y.shape[0]}."
        )
    X = X - X.mean(dim=0, keepdim=True)  # centre every feature (the H in HSIC)
    Y = Y - Y.mean(dim=0, keepdim=True)
    n, p1, p2 = X.shape[0], X.shape[1], Y.shape[1]
    if n < min(p1, p2):
        K = X @ X.T  # (n, n)
        L = Y @ Y.T  # (n, n)
        cross, norm_x, norm_y = (K * L).sum(), K.norm(), L.norm()  # <K, L>_F = ||Y^T X||_F^2
    else:
        cross = (Y.T @ X).square().sum()  # ||Y^T X||_F^2
        norm_x = (X.T @ X).norm()  # ||X^T X||_F
        norm_y = (Y.T @ Y).norm()
    if norm_x == 0 or norm_y == 0:
        raise ValueError(
            "a representation is constant across the examples (zero variance): CKA is undefined."
        )
    return cross / (norm_x * norm_y)


def bootstrap_cka(
    X: torch.Tensor, Y: torch.Tensor, *, resamples: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Linear CKA of X and Y with a bootstrap percentile interval over the examples.

    Each resample draws n examples with replacement (the same rows of X and Y, so the pairs stay
    together) and recomputes :func:`linear_cka`; the interval is the (1 - level) / 2 and
    (1 + level) / 2 quantiles of the resampled values (Efron and Tibshirani 1993, ch. 13). It
    says how much the value depends on which test images were drawn, not on the training seed.

    Args:
        X: (n, p1) or (n, ...) features; Y: (n, p2) or (n, ...), the same examples in order.
        resamples: how many bootstrap samples (200 gives a 95% interval to about +-0.01).
        level: the interval's coverage, in (0, 1).
        seed: of the generator that draws the resamples.

    Returns:
        (cka, low, high): the CKA on all n examples and the interval's two ends, as floats.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}.")
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2 (e.g. 200); got {resamples}.")
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    generator = torch.Generator().manual_seed(seed)
    values = torch.empty(resamples, dtype=torch.float64)
    for r in range(resamples):
        rows = torch.randint(0, X.shape[0], (X.shape[0],), generator=generator)  # (n,)
        values[r] = linear_cka(X[rows.to(X.device)], Y[rows.to(Y.device)]).item()
    low, high = torch.quantile(values, torch.tensor([(1 - level) / 2, (1 + level) / 2],
                                                    dtype=torch.float64)).tolist()
    return linear_cka(X, Y).item(), low, high


def cka_matrix(
    features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor] | None = None
) -> torch.Tensor:
    """Linear CKA between every layer of one network and every layer of another (or itself).

    Args:
        features_a: La tensors (n, ...), e.g. ``EncoderOutput.hidden_states``.
        features_b: Lb tensors (n, ...) for the same n examples; None compares ``features_a``
            with itself.

    Returns:
        (La, Lb) float64: entry [i, j] = linear_cka(features_a[i], features_b[j]).
    """
    if features_b is None:
        features_b = features_a
    matrix = torch.empty(len(features_a), len(features_b), dtype=torch.float64)
    for i, a in enumerate(features_a):
        for j, b in enumerate(features_b):
            matrix[i, j] = linear_cka(a, b).item()  # a Python float: works for any device
    return matrix


def gram_linear(X: torch.Tensor) -> torch.Tensor:
    """K = X X^T in float64. X: (n, ...) flattened to (n, p). Returns (n, n)."""
    X = _as_matrix(X, "X")
    return X @ X.T  # (n, n)


def unbiased_hsic(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """The unbiased HSIC estimator of Song et al. 2012 (JMLR), for n > 3 examples:

        HSIC_1 = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3))

    where K~, L~ are K, L with their diagonals set to zero. Its mean over minibatches is an
    unbiased estimate of the population HSIC, which the biased tr(KHLH)/(n-1)^2 is not.

    Args:
        K, L: (n, n) Gram matrices of the same examples.

    Returns:
        a float64 scalar tensor.
    """
    n = K.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples per batch, got {n}.")
    K = K.double().clone().fill_diagonal_(0.0)  # K~
    L = L.double().clone().fill_diagonal_(0.0)  # L~
    trace = (K * L).sum()  # tr(K~ L~), both symmetric
    sums = K.sum() * L.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (K.sum(dim=0) @ L.sum(dim=1))  # 1^T K~ L~ 1
    return (trace + sums - cross) / (n * (n - 3))


class MinibatchCKA:
    """Linear CKA over a dataset too large for one Gram matrix (Nguyen et al. 2021):
    sum the unbiased HSIC of each minibatch, then

        CKA = sum_b HSIC_1(K_b, L_b) / sqrt(sum_b HSIC_1(K_b, K_b) * sum_b HSIC_1(L_b, L_b)).

    Args:
        num_a, num_b: number of layers compared on each side.

    Use: ``cka = MinibatchCKA(num_a=La, num_b=Lb)``, then ``cka.update(feats_a, feats_b)`` per
    batch (lists of (n, ...) tensors, n >= 4), then ``cka.compute()`` -> (La, Lb).
    """

    def __init__(self, *, num_a: int, num_b: int):
        self.cross = torch.zeros(num_a, num_b, dtype=torch.float64)
        self.self_a = torch.zeros(num_a, dtype=torch.float64)
        self.self_b = torch.zeros(num_b, dtype=torch.float64)

    def update(self, features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor]):
        """Add one minibatch: La and Lb tensors (n, ...) for the same n examples."""
        if len(features_a) != len(self.self_a) or len(features_b) != len(self.self_b):
            raise ValueError(
                f"expected {len(self.self_a)} and {len(self.self_b)} layers, "
                f"got {len(features_a)} and {len(features_b)}."
            )
        grams_a = [gram_linear(x).cpu() for x in features_a]
        grams_b = [gram_linear(y).cpu() for y in features_b]
        for i, K in enumerate(grams_a):
            self.self_a[i] += unbiased_hsic(K, K)
            for j, L in enumerate(grams_b):
                self.cross[i, j] += unbiased_hsic(K, L)
        for j, L in enumerate(grams_b):
            self.self_b[j] += unbiased_hsic(L, L)

    def compute(self) -> torch.Tensor:
        """(La, Lb) float64 CKA values from the batches seen so far."""
        return self.cross / torch.sqrt(self.self_a[:, None] * self.self_b[None, :])


def plot_cka_matrix(
    matrix: torch.Tensor,
    *,
    labels_a: Sequence[str] | None = None,
    labels_b: Sequence[str] | None = None,
    xlabel: str = "layer (model B)",
    ylabel: str = "layer (model A)",
    title: str = "linear CKA",
    annotate: bool | None = None,
):
    """A heatmap of :func:`cka_matrix` (layer 0 at the bottom left, as in Kornblith et al. fig. 4).

    Args:
        matrix: (La, Lb) CKA values.
        labels_a, labels_b: tick labels of the rows and columns.
        annotate: write the values in the cells (default: when the matrix is at most 12 x 12).

    Returns:
        the Figure.
    """
    values = matrix.detach().cpu().float().numpy()
    La, Lb = values.shape
    fig, ax = plt.subplots(figsize=(min(1.0 + 0.45 * Lb, 9.0), min(0.8 + 0.4 * La, 8.0)))
    image = ax.imshow(values, origin="lower", cmap="magma", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="CKA")
    ax.set_xticks(range(Lb))
    ax.set_yticks(range(La))
    ax.set_xticklabels(labels_b if labels_b is not None else range(Lb), fontsize=7, rotation=90)
    ax.set_yticklabels(labels_a if labels_a is not None else range(La), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if annotate if annotate is not None else max(La, Lb) <= 12:
        for i in range(La):
            for j in range(Lb):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if values[i, j] > 0.6 else "white",
                )
    fig.tight_layout()
    return fig
