"""Linear CKA (Kornblith et al. 2019) and token similarity (lesson 08), against direct formulas."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minivision.analysis import (  # noqa: E402
    MinibatchCKA,
    cka_matrix,
    gram_linear,
    linear_cka,
    plot_cka_matrix,
    similarity_map,
    token_cosine_similarity,
    token_similarity_matrix,
    unbiased_hsic,
)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def random_orthogonal(p, seed):
    q, _ = torch.linalg.qr(rand(p, p, seed=seed))
    return q


def hsic_direct(K, L):
    """HSIC(K, L) = tr(K H L H) / (n - 1)^2 with H = I - 1 1^T / n (Gretton et al. 2005)."""
    n = K.shape[0]
    H = torch.eye(n, dtype=torch.float64) - torch.ones(n, n, dtype=torch.float64) / n
    return torch.trace(K @ H @ L @ H) / (n - 1) ** 2


def cka_direct(X, Y):
    K, L = X @ X.T, Y @ Y.T
    return hsic_direct(K, L) / torch.sqrt(hsic_direct(K, K) * hsic_direct(L, L))


@pytest.mark.parametrize(
    "n, p1, p2", [(50, 10, 20), (8, 30, 40)]
)  # feature-space and Gram-space branches
def test_linear_cka_matches_hsic_formula(n, p1, p2):
    X, Y = rand(n, p1, seed=1), rand(n, p2, seed=2)
    Y = Y + 0.5 * X[:, :1]  # some shared signal, so CKA is not near 0
    torch.testing.assert_close(linear_cka(X, Y), cka_direct(X, Y), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(linear_cka(X, Y), linear_cka(Y, X), atol=1e-12, rtol=0)  # symmetric
    torch.testing.assert_close(linear_cka(X, X), torch.tensor(1.0, dtype=torch.float64))


def test_linear_cka_invariances():
    X = rand(40, 12, seed=3)
    Y = torch.tanh(X @ rand(12, 16, seed=4)) + 0.1 * rand(40, 16, seed=5)
    base = linear_cka(X, Y)
    assert 0.1 < base < 0.99
    Q = random_orthogonal(16, seed=6)
    torch.testing.assert_close(linear_cka(X, Y @ Q), base)  # orthogonal transform
    torch.testing.assert_close(linear_cka(3.7 * X, Y), base)  # isotropic scaling
    torch.testing.assert_close(linear_cka(X + 5.0, Y), base)  # a constant offset (centring)
    M = torch.diag(torch.logspace(-2, 2, 16, dtype=torch.float64)) @ random_orthogonal(16, seed=7)
    assert torch.linalg.matrix_rank(M) == 16  # invertible, but not orthogonal
    assert abs(linear_cka(X, Y @ M) - base) > 0.1  # CKA is NOT invariant to it
    assert linear_cka(X, rand(40, 12, seed=8)) < 0.5  # unrelated features are far from 1


def test_linear_cka_accepts_tokens_and_float32():
    tokens = rand(10, 5, 8, seed=9).float()  # (n, N, D) -> (n, N*D)
    other = rand(10, 5, 8, seed=10).float()
    torch.testing.assert_close(
        linear_cka(tokens, other), cka_direct(tokens.double().flatten(1), other.double().flatten(1))
    )
    assert linear_cka(tokens, other).dtype == torch.float64
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(rand(5, 3), rand(6, 3))
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(torch.ones(5, 3), rand(5, 3))


def test_cka_matrix_and_plot():
    feats = [rand(20, 6, seed=s) for s in range(3)]
    feats_b = [feats[0] @ random_orthogonal(6, seed=11), rand(20, 4, seed=12)]
    matrix = cka_matrix(feats, feats_b)
    assert matrix.shape == (3, 2)
    torch.testing.assert_close(matrix[0, 0], torch.tensor(1.0, dtype=torch.float64))
    for i, j in itertools.product(range(3), range(2)):
        torch.testing.assert_close(matrix[i, j], cka_direct(feats[i], feats_b[j]))
    square = cka_matrix(feats)
    torch.testing.assert_close(square, square.T)
    torch.testing.assert_close(square.diagonal(), torch.ones(3, dtype=torch.float64))
    fig = plot_cka_matrix(matrix, labels_a=["a", "b", "c"])
    assert isinstance(fig, Figure)
    plt.close(fig)


def test_unbiased_hsic_is_the_u_statistic():
    """Song et al. 2012, as a U-statistic: HSIC_1 = 1/(n)_4 sum over distinct (i, j, q, r) of
    k_ij l_ij + k_ij l_qr - 2 k_ij l_iq, a U-statistic written out as a loop."""
    n = 6
    X, Y = rand(n, 3, seed=13), rand(n, 4, seed=14)
    K, L = gram_linear(X), gram_linear(Y)
    total = 0.0
    tuples = list(itertools.permutations(range(n), 4))
    for i, j, q, r in tuples:
        total += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
    torch.testing.assert_close(unbiased_hsic(K, L), total / len(tuples))


def test_minibatch_cka():
    X = rand(64, 8, seed=15)
    Y = X @ rand(8, 8, seed=16) + 0.3 * rand(64, 8, seed=17)
    cka = MinibatchCKA(num_a=2, num_b=2)
    for batch in range(4):
        rows = slice(16 * batch, 16 * (batch + 1))
        cka.update([X[rows], Y[rows]], [X[rows] @ random_orthogonal(8, seed=18), Y[rows]])
    matrix = cka.compute()
    torch.testing.assert_close(matrix.diagonal(), torch.ones(2, dtype=torch.float64))
    assert abs(matrix[0, 1] - linear_cka(X, Y)) < 0.1  # close to the full-batch value, not equal


def test_token_similarity():
    tokens = rand(2, 1 + 9, 6, seed=19).float()  # [CLS] + a 3 x 3 grid
    sims = token_cosine_similarity(tokens)
    assert sims.shape == (2, 9)
    cls, patch = tokens[1, 0], tokens[1, 1 + 4]
    torch.testing.assert_close(sims[1, 4], cls @ patch / (cls.norm() * patch.norm()))
    mean_ref = token_cosine_similarity(tokens, reference="mean")
    torch.testing.assert_close(
        mean_ref, F.cosine_similarity(tokens[:, 1:], tokens[:, 1:].mean(1, keepdim=True), dim=-1)
    )
    matrix = token_similarity_matrix(tokens)
    assert matrix.shape == (2, 10, 10)
    torch.testing.assert_close(matrix, matrix.transpose(1, 2))
    torch.testing.assert_close(matrix.diagonal(dim1=1, dim2=2), torch.ones(2, 10))
    torch.testing.assert_close(matrix[:, 0, 1:], sims)
    grid = similarity_map(tokens, 3)
    assert grid.shape == (2, 3, 3)
    torch.testing.assert_close(grid[1, 1, 1], sims[1, 4])  # row 1, column 1 is patch 4
    assert similarity_map(tokens, 3, image_size=12, mode="nearest").shape == (2, 12, 12)
    with pytest.raises(ValueError):
        token_cosine_similarity(tokens, reference="first")


def test_bootstrap_cka_is_linear_cka_on_resampled_rows():
    from minivision.analysis.cka import bootstrap_cka

    X, Y = rand(30, 5, seed=1), rand(30, 4, seed=2)
    Y = Y + X[:, :4]  # related, so CKA is neither 0 nor 1
    value, low, high = bootstrap_cka(X, Y, resamples=50, level=0.8, seed=3)
    # the same resamples drawn directly, CKA from the HSIC formula, quantiles by sorting
    generator = torch.Generator().manual_seed(3)
    direct = []
    for _ in range(50):
        rows = torch.randint(0, 30, (30,), generator=generator)
        direct.append(cka_direct(X[rows], Y[rows]).item())
    direct = sorted(direct)
    assert value == pytest.approx(cka_direct(X, Y).item(), abs=1e-10)
    # 80% interval: the 10% and 90% quantiles, linear interpolation between order statistics
    for q, got in [(0.1, low), (0.9, high)]:
        k = q * 49
        expected = direct[int(k)] + (k - int(k)) * (direct[int(k) + 1] - direct[int(k)])
        assert got == pytest.approx(expected, abs=1e-10)
    assert low < value < high
    with pytest.raises(ValueError, match="level"):
        bootstrap_cka(X, Y, level=95)
