"""The compact convolutional transformer (minivision.models.cct) against lucidrains' vit-pytorch
CCT (the pieces that are the same idea: tokenizer, attention, SeqPool and head) and against
independent computations; plus the checks every model gets (shapes, gradients, bad input)."""
import pytest
import torch
from torch import nn

from minivision.models import create_model
from minivision.models.cct import (
    PRESETS,
    CCTConfig,
    CompactTransformer,
    ConvTokenizer,
    SeqPool,
)

vit_pytorch_cct = pytest.importorskip("vit_pytorch.cct")


def small(**kwargs):
    config = dict(image_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, num_convs=2,
                  conv_channels=16, num_classes=5, attn_dropout=0.0, drop_path_rate=0.0)
    return CompactTransformer(**{**config, **kwargs})


def test_tokenizer_matches_vit_pytorch():
    torch.manual_seed(0)
    ours = ConvTokenizer(in_channels=3, embed_dim=32, num_convs=2, kernel_size=3, conv_channels=16)
    ref = vit_pytorch_cct.Tokenizer(kernel_size=3, stride=1, padding=1, n_conv_layers=2,
                                    n_input_channels=3, n_output_channels=32, in_planes=16,
                                    activation=nn.ReLU, max_pool=True, conv_bias=False)
    ours_convs = [m for m in ours.modules() if isinstance(m, nn.Conv2d)]
    ref_convs = [m for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert len(ours_convs) == len(ref_convs) == 2
    for a, b in zip(ours_convs, ref_convs):
        a.weight.data.copy_(b.weight.data)
    x = torch.randn(3, 3, 16, 16)
    tokens = ours(x)
    assert tokens.shape == (3, 16, 32)  # 16x16 -> 8x8 -> 4x4 = 16 tokens of width 32
    torch.testing.assert_close(tokens, ref(x), atol=1e-5, rtol=1e-5)
    assert ours.num_tokens(16) == ref.sequence_length(3, 16, 16)
    assert ours.num_tokens(32) == ref.sequence_length(3, 32, 32) == 64


def test_tokenizer_is_conv_relu_maxpool():
    torch.manual_seed(0)
    ours = ConvTokenizer(in_channels=3, embed_dim=8, num_convs=1, kernel_size=3)
    conv = ours.stages[0]
    x = torch.randn(2, 3, 10, 10)
    expected = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(3, 2, 1))(x)  # (2, 8, 5, 5)
    expected = expected.reshape(2, 8, 25).transpose(1, 2)  # (2, 25, 8): row-major positions
    torch.testing.assert_close(ours(x), expected)


def test_seqpool_by_hand():
    torch.manual_seed(0)
    pool = SeqPool(embed_dim=6)
    x = torch.randn(2, 5, 6)
    z, weights = pool(x, return_weights=True)
    g = x @ pool.attention_pool.weight[0] + pool.attention_pool.bias  # (2, 5): g(x_L)
    w = torch.exp(g) / torch.exp(g).sum(dim=1, keepdim=True)  # eq. 1, the softmax over tokens
    expected = (w[:, :, None] * x).sum(dim=1)  # eq. 2, (2, 6)
    torch.testing.assert_close(weights, w)
    torch.testing.assert_close(z, expected)
    assert torch.allclose(weights.sum(1), torch.ones(2))


def test_pool_and_head_match_vit_pytorch():
    """The reference classifier with no blocks and no position embedding is final norm ->
    SeqPool -> fc: ours is encoder.norm -> forward_head."""
    torch.manual_seed(0)
    model = small().eval()
    ref = vit_pytorch_cct.TransformerClassifier(
        seq_pool=True, embedding_dim=32, num_layers=0, num_heads=2, num_classes=5,
        dropout_rate=0.0, attention_dropout=0.0, stochastic_depth_rate=0.0,
        positional_embedding="none", sequence_length=16).eval()
    ref.norm.load_state_dict(model.encoder.norm.state_dict())
    ref.attention_pool.load_state_dict(model.pool.attention_pool.state_dict())
    ref.fc.load_state_dict(model.head.state_dict())
    x = torch.randn(4, 16, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.encoder.norm(x)), ref(x),
                                   atol=1e-5, rtol=1e-5)


def test_attention_matches_vit_pytorch():
    """The CCT's blocks use minivision's Attention without q, k, v bias, the reference's."""
    torch.manual_seed(0)
    model = small().eval()
    ours = model.encoder.blocks[0].attn
    assert ours.qkv.bias is None
    ref = vit_pytorch_cct.Attention(dim=32, num_heads=2, attention_dropout=0.0,
                                    projection_dropout=0.0).eval()
    ref.qkv.load_state_dict(ours.qkv.state_dict())
    ref.proj.load_state_dict(ours.proj.state_dict())
    x = torch.randn(3, 16, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_forward_is_tokenizer_encoder_seqpool_head():
    torch.manual_seed(0)
    model = small().eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        tokens = model.tokenizer(x) + model.pos_embed  # (2, 16, 32)
        tokens = model.encoder(tokens)
        expected = model.head(model.pool(tokens))
        torch.testing.assert_close(model(x), expected)
    assert model.forward_features(x).shape == (2, 16, 32)


def test_shapes_and_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = small(attn_dropout=0.1, drop_path_rate=0.1).train()
    x = torch.randn(4, 3, 16, 16)
    logits = model(x)
    assert logits.shape == (4, 5) and torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_registry_builds_every_cct_preset():
    for name in PRESETS:
        model = create_model(name, num_classes=7, image_size=32, in_channels=1).eval()
        expected = CCTConfig.from_preset(name)
        assert model.config.embed_dim == expected.embed_dim
        assert len(model.encoder.blocks) == expected.depth
        assert model.pos_embed.shape[1] == (32 // 2 ** expected.num_convs) ** 2
    with torch.no_grad():
        assert create_model("cct_2_3x2_32", num_classes=7)(torch.randn(2, 3, 32, 32)).shape \
            == (2, 7)


def test_paper_sizes():
    """CCT-2/3x2 has 0.28M parameters and CCT-7/3x1 3.76M (Hassani et al. 2021, Table 2)."""
    def millions(name):
        return sum(p.numel() for p in create_model(name, num_classes=10).parameters()) / 1e6
    assert millions("cct_2_3x2_32") == pytest.approx(0.28, abs=0.01)
    assert millions("cct_7_3x1_32") == pytest.approx(3.76, abs=0.02)


def test_no_weight_decay_names_a_real_parameter():
    model = small()
    names = dict(model.named_parameters())
    assert model.no_weight_decay() <= set(names)


def test_bad_input_errors():
    model = small()
    with pytest.raises(ValueError, match=r"expects images \(B, 3, 16, 16\)"):
        model(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="too small"):
        CCTConfig(image_size=2, num_convs=2)
    with pytest.raises(ValueError, match="unknown CCT preset"):
        CCTConfig.from_preset("cct_99")
    with pytest.raises(ValueError, match="divisible"):
        small(embed_dim=30, num_heads=4)
