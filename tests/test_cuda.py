"""The CUDA paths: the same numbers as the CPU and the by-hand code, and training that works.

Every test here is skipped without a GPU (CI has none); they ran on an H100 through the project's
device tool (see benchmarks/RESULTS.md). TF32 is switched off where float32 results are compared
to tight tolerances: with it, cuBLAS and cuDNN round matmul inputs to 10 mantissa bits.
"""
import pytest
import torch
import torch.nn.functional as F

from minivision import Attention, VisionTransformer, ViTConfig, resnet18
from minivision.data import BuiltinShapes
from minivision.training import evaluate, fit, load_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def exact_float32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def micro_vit(**changes) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(ViTConfig.from_preset("vit_micro_patch4_32", num_classes=10, **changes))


def test_fused_and_explicit_attention_agree_on_cuda_with_equal_gradients():
    torch.manual_seed(0)
    explicit = Attention(embed_dim=64, num_heads=4, fused=False).cuda()
    fused = Attention(embed_dim=64, num_heads=4, fused=True).cuda()
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(8, 65, 64, device="cuda", requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y1, y2 = explicit(x), fused(x2)
    torch.testing.assert_close(y2, y1, atol=1e-5, rtol=0)
    (y1 ** 2).sum().backward()
    (y2 ** 2).sum().backward()
    torch.testing.assert_close(x2.grad, x.grad, atol=1e-5, rtol=0)
    for (name, p1), p2 in zip(explicit.named_parameters(), fused.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_vit_on_cuda_matches_the_cpu():
    model = micro_vit().eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_logits_stay_close_to_float32(dtype):
    # Half precision rounds to 8 (bf16) or 11 (fp16) mantissa bits: the logits move by about
    # 2^-8 of their size, not more. Fused (flash / memory-efficient kernels) and explicit alike.
    x = torch.randn(16, 3, 32, 32, device="cuda")
    for fused in (False, True):
        model = micro_vit(fused_attn=fused).cuda().eval()
        with torch.no_grad():
            reference = model(x)
            with torch.autocast("cuda", dtype=dtype):
                half = model(x).float()
        scale = reference.abs().max().item()
        assert (half - reference).abs().max().item() <= 0.03 * scale, (fused, dtype)


def test_compiled_model_matches_eager_on_cuda():
    model = micro_vit(fused_attn=True).cuda()
    compiled = torch.compile(model)
    x = torch.randn(8, 3, 32, 32, device="cuda")
    eager_out = model(x)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled_out = compiled(x)
    compiled_out.sum().backward()
    torch.testing.assert_close(compiled_out, eager_out, atol=1e-5, rtol=1e-5)
    for g_eager, p in zip(eager_grads, model.parameters()):
        torch.testing.assert_close(p.grad, g_eager, atol=1e-5, rtol=1e-4)


def test_resnet_channels_last_matches_contiguous_on_cuda():
    torch.manual_seed(0)
    model = resnet18(num_classes=10).cuda().eval()
    x = torch.randn(4, 3, 32, 32, device="cuda")
    with torch.no_grad():
        plain = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(cl, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("amp, compile", [(None, False), ("bf16", False), ("fp16", False),
                                          ("bf16", True)])
def test_fit_on_cuda_learns_the_builtin_shapes(amp, compile, tmp_path):
    train = torch.utils.data.DataLoader(BuiltinShapes(2048), batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(BuiltinShapes(512, train=False), batch_size=256)
    model = VisionTransformer.from_preset("vit_micro_patch8_32", num_classes=10)
    history = fit(model, train, test_loader=test, epochs=6, lr=3e-3, warmup_epochs=1, amp=amp,
                  compile=compile, device="cuda", out=tmp_path, progress=False)
    assert next(model.parameters()).device.type == "cuda"
    losses = [record["train_loss"] for record in history]
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert losses[-1] < 0.8 * losses[0], losses
    assert history[-1]["test_top1"] > 0.2  # chance is 0.1
    # the checkpoint holds CPU-loadable weights that give the same accuracy
    state = load_checkpoint(tmp_path / "last.pt")["model"]  # mapped to the CPU
    fresh = VisionTransformer.from_preset("vit_micro_patch8_32", num_classes=10)
    fresh.load_state_dict(state)
    again = evaluate(fresh, test, device="cpu")
    assert abs(again["top1"] - history[-1]["test_top1"]) <= 5 / 512  # AMP may flip a few


def test_analysis_of_a_gpu_model_with_cpu_images():
    from minivision.analysis import GradCAM, attention_maps, feature_maps

    cnn = resnet18(num_classes=10).cuda()
    image = torch.rand(3, 32, 32)  # from a CPU loader
    assert feature_maps(cnn, image, ["layer1"])["layer1"].is_cuda
    assert GradCAM(cnn, cnn.layer4)(image[None]).shape == (1, 32, 32)
    assert attention_maps(micro_vit().cuda(), image[None]).is_cuda
