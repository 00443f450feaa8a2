"""minivision.analysis.hooks: what the context managers record equals what a hand-written hook
records, and the model comes out of every ``with`` block exactly as it went in."""
import pytest
import torch
from torch import nn

from minivision.analysis.hooks import (capture_input, capture_output, eval_mode, record_inputs,
                                       record_outputs, to_model_device)
from minivision.layers import Attention, FactorisedSelfAttentionBlock


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.ReLU(),
                         nn.Linear(8, 3))


def hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_outputs_equal_a_hand_written_forward_hook():
    net = small_net().eval()
    x = torch.randn(5, 6)  # (B, features)
    by_hand = {}
    handles = [net[i].register_forward_hook(
        lambda m, inputs, output, i=i: by_hand.setdefault(i, []).append(output.detach().clone()))
        for i in (0, 3)]
    net(x)
    net(x + 1)
    for handle in handles:
        handle.remove()
    with record_outputs({"fc1": net[0], "relu": net[3]}) as seen:
        net(x)
        net(x + 1)
    assert [len(seen["fc1"]), len(seen["relu"])] == [2, 2]  # one tensor per forward pass
    for name, i in (("fc1", 0), ("relu", 3)):
        for ours, theirs in zip(seen[name], by_hand[i]):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    torch.testing.assert_close(seen["fc1"][0], net[0](x), rtol=0, atol=0)  # and the layer itself


def test_inputs_are_what_each_attention_of_a_factorised_block_receives():
    B, T, N, D = 2, 3, 5, 8
    block = FactorisedSelfAttentionBlock(embed_dim=D, num_heads=2).eval()
    x = torch.randn(B, T, N, D)
    with record_inputs({"spatial": block.attn, "temporal": block.temporal_attn}) as seen:
        block(x)
    assert seen["spatial"][0].shape == (B * T, N, D)
    assert seen["temporal"][0].shape == (B * N, T, D)
    # Independent computation: the spatial attention reads norm1 of the frames as sequences.
    torch.testing.assert_close(seen["spatial"][0], block.norm1(x.reshape(B * T, N, D)),
                               rtol=0, atol=0)
    by_hand = []
    handle = block.temporal_attn.register_forward_pre_hook(
        lambda m, inputs: by_hand.append(inputs[0].detach().clone()))
    block(x)
    handle.remove()
    torch.testing.assert_close(seen["temporal"][0], by_hand[0], rtol=0, atol=0)


def test_a_tuple_output_records_its_first_element():
    attn = Attention(embed_dim=8, num_heads=2).eval()
    x = torch.randn(2, 4, 8)  # (B, N, D)
    with capture_output(attn) as seen:
        out, weights = attn(x, return_attn=True)
    assert len(seen) == 1 and weights.shape == (2, 2, 4, 4)
    torch.testing.assert_close(seen[0], out, rtol=0, atol=0)


@pytest.mark.parametrize("record", [record_outputs, record_inputs])
def test_hooks_are_removed_after_the_block_even_when_it_raises(record):
    net = small_net()
    with pytest.raises(RuntimeError, match="boom"):
        with record({"fc1": net[0], "fc2": net[4]}) as seen:
            assert hook_count(net) == 2
            net.eval()(torch.randn(2, 6))
            raise RuntimeError("boom")
    assert hook_count(net) == 0
    net(torch.randn(2, 6))  # a forward after the block records nothing more
    assert [len(seen["fc1"]), len(seen["fc2"])] == [1, 1]


@pytest.mark.parametrize("capture", [capture_output, capture_input])
def test_a_single_capture_removes_its_hook_when_the_block_raises(capture):
    layer = nn.Linear(3, 3)
    with pytest.raises(ValueError):
        with capture(layer):
            raise ValueError
    assert hook_count(layer) == 0


def test_eval_mode_restores_every_submodules_own_flag_even_when_it_raises():
    net = small_net().train()
    net[1].eval()  # a frozen BatchNorm inside a training model: a half-eval model
    before = [m.training for m in net.modules()]
    with pytest.raises(RuntimeError):
        with eval_mode(net):
            assert not any(m.training for m in net.modules())
            raise RuntimeError
    assert [m.training for m in net.modules()] == before


def test_eval_mode_leaves_batchnorm_statistics_alone():
    net = small_net().train()
    mean = net[1].running_mean.clone()
    with eval_mode(net), torch.no_grad():
        net(torch.randn(8, 6) * 3 + 2)
    torch.testing.assert_close(net[1].running_mean, mean, rtol=0, atol=0)


def test_detach_false_keeps_the_graph_and_versions_catch_an_in_place_change():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with capture_output(layer, detach=False) as kept, capture_output(layer) as copied:
        y = layer(x)
    assert kept[0] is y and kept[0].requires_grad
    assert copied[0] is not y and not copied[0].requires_grad
    y.relu_()  # an in-place op after the layer: the kept tensor changed, its version grew
    assert y._version > kept.versions[0]
    assert torch.equal(copied[0], layer(x).detach())  # the copy still holds the layer's output


def test_to_model_device_uses_the_first_parameter_and_leaves_parameter_free_models_alone():
    images = torch.randn(1, 3, 4, 4)
    assert to_model_device(nn.ReLU(), images) is images
    on_meta = nn.Linear(2, 2, device="meta")  # a device other than the images' (no GPU needed)
    assert to_model_device(on_meta, images).device == torch.device("meta")
