"""The checkpoint chain from lesson 09 to lesson 10: the pseudo-video model lesson 09 saves is
the one lesson 10 builds, loads (architecture checked) and reads images with, as still clips.

The two models are built by the lessons' own code: the cells that define lesson 09's
``make_pseudo_video`` and lesson 10's ``make_video_model`` are executed here, so a change to
either notebook that breaks the chain fails this file, not lesson 10's full run.
"""
import ast
import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from minivision import CaptionConditionedClassifier, VisionTransformer, lesson
from minivision.model_cache import load_lesson_model, save_lesson_model
from minivision.models import PseudoVideoClassifier, StillClipEncoder, init_linear_and_norm

LESSONS = Path(__file__).resolve().parents[1] / "lessons"


def _code_cells(name: str) -> list[str]:
    (path,) = LESSONS.glob(f"{name}_*.ipynb")
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _cell_with(cells: list[str], text: str) -> str:
    (found,) = [source for source in cells if text in source]
    return found


def _line_starting(cells: list[str], start: str) -> str:
    (found,) = [line for source in cells for line in source.splitlines()
                if line.startswith(start)]
    return found


def _assignments(source: str, names: set[str]) -> str:
    """The top-level statements of a cell that assign ``names`` (its settings), without the
    rest of the cell (imports, styles, seeds, prints)."""
    tree = ast.parse(source)
    kept = [node for node in tree.body if isinstance(node, ast.Assign)
            and {t.id for t in node.targets if isinstance(t, ast.Name)} & names]
    return "\n".join(ast.unparse(node) for node in kept)


def lesson_09_model() -> tuple[nn.Module, dict]:
    """What lesson 09 saves for lesson 10, built by its cells: the setup's SETTINGS and
    FOR_LESSON_10, the backbone line of section 4.1, FRAMES, and make_pseudo_video."""
    cells = _code_cells("09")
    ns = {"lesson": lesson, "copy": copy, "VisionTransformer": VisionTransformer,
          "PseudoVideoClassifier": PseudoVideoClassifier}
    setup = _cell_with(cells, "# Setup: imports")
    exec(_assignments(setup, {"SETTINGS", "SEED", "FOR_LESSON_10"}), ns)
    exec(_line_starting(cells, "backbone = VisionTransformer"), ns)
    exec(_line_starting(cells, "FRAMES = "), ns)
    exec(_cell_with(cells, "def make_pseudo_video("), ns)
    save_cell = _cell_with(cells, "save_lesson_model(")
    return ns["make_pseudo_video"](ns["FOR_LESSON_10"]), {"save_cell": save_cell}


def lesson_10_model() -> tuple[nn.Module, dict]:
    """The model lesson 10 builds to load lesson 09's file into, by its make_video_model."""
    cells = _code_cells("10")
    ns = {"VisionTransformer": VisionTransformer, "PseudoVideoClassifier": PseudoVideoClassifier}
    exec(_cell_with(cells, "def make_video_model("), ns)
    return ns["make_video_model"](), {"load_cell": _cell_with(cells, "load_lesson_model(video")}


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Different weights everywhere (as training would leave them), LayerNorms included."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Lesson 09's model, trained (random weights), saved as lesson 09 saves it."""
    root = tmp_path_factory.mktemp("cache")
    model, cells = lesson_09_model()
    model = _randomise(model, seed=1).eval()
    assert '"pseudo_video", lesson="09"' in cells["save_cell"]
    save_lesson_model(model, "pseudo_video", lesson="09", settings={"temporal_depth": 2},
                      root=root, quick=False)
    return model, root


def test_lesson_09s_model_loads_into_the_model_lesson_10_builds(saved):
    trained, root = saved
    fresh, cells = lesson_10_model()
    assert '"pseudo_video", made_by="09"' in cells["load_cell"]  # the name lesson 09 saves
    facts = load_lesson_model(fresh, "pseudo_video", made_by="09", root=root, quick=False)
    assert facts["lesson"] == "09" and facts["settings"] == {"temporal_depth": 2}
    for (name, a), (_, b) in zip(trained.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name
    clips = torch.randn(2, fresh.num_frames, 3, 32, 32)
    with torch.no_grad():
        assert_close(fresh.eval()(clips), trained(clips))


def test_an_image_is_a_still_clip_of_the_loaded_model(saved):
    video, _ = saved
    images = torch.randn(3, 3, 32, 32)
    clips = images[:, None].expand(-1, video.num_frames, -1, -1, -1)  # the course's test input
    encoder = StillClipEncoder(video)
    with torch.no_grad():
        tokens = encoder.forward_features(images)
        assert tokens.shape == (3, 1 + video.num_frames, video.config.embed_dim)
        assert_close(tokens, video.forward_features(clips), atol=1e-5, rtol=1e-5)
        assert_close(encoder(images), video(clips), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        video.still_features(clips)
    with pytest.raises(ValueError, match="PseudoVideoClassifier"):
        StillClipEncoder(VisionTransformer(image_size=32, patch_size=8, embed_dim=32, depth=1,
                                           num_heads=2))


def test_lesson_10_trains_only_the_new_part_on_the_frozen_video_model(saved):
    video = copy.deepcopy(saved[0]).requires_grad_(False)
    model = CaptionConditionedClassifier(StillClipEncoder(video), text_dim=8, num_classes=10)
    images, text = torch.randn(4, 3, 32, 32), torch.randn(4, 8)
    logits = model(images, text)
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
    assert model(images).shape == (4, 10)  # no text: the block is skipped
    logits.square().sum().backward()
    assert all(p.grad is None for p in video.parameters())
    for name, p in model.named_parameters():
        if not name.startswith("backbone."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_another_architecture_is_an_error_naming_both(saved):
    _, root = saved
    load = lambda model: load_lesson_model(model, "pseudo_video", made_by="09", root=root,
                                           quick=False)
    frames = lambda **changes: VisionTransformer.from_preset("vit_micro_patch8_32",
                                                             num_classes=10, **changes)
    with pytest.raises(ValueError, match="PseudoVideoClassifier.*VisionTransformer"):
        load(frames())  # the frame encoder alone is not the video model
    with pytest.raises(ValueError, match="depth"):  # the frame encoder's config differs
        load(PseudoVideoClassifier(frames(depth=2), num_frames=16, num_classes=10,
                                   temporal_depth=2))
    with pytest.raises(ValueError, match=r"temporal\.encoder\.blocks\.1"):  # one block, not two
        load(PseudoVideoClassifier(frames(), num_frames=16, num_classes=10, temporal_depth=1))
    with pytest.raises(ValueError, match=r"temporal\.pos_embed.*\[1, 17, 64\].*\[1, 9, 64\]"):
        load(PseudoVideoClassifier(frames(), num_frames=8, num_classes=10, temporal_depth=2))


def test_init_linear_and_norm_is_timms_vit_init_on_the_new_parts_only():
    torch.manual_seed(0)
    pretrained = nn.Linear(64, 64)
    new = nn.Sequential(nn.Linear(256, 512), nn.LayerNorm(512))
    with torch.no_grad():
        new[1].weight.fill_(3.0)
        new[1].bias.fill_(1.0)
    before = pretrained.weight.clone()
    init_linear_and_norm(new)
    assert torch.equal(pretrained.weight, before)
    weight = new[0].weight
    assert abs(weight.std().item() - 0.02) < 0.002 and weight.abs().max() <= 2.0  # trunc normal
    assert torch.equal(new[0].bias, torch.zeros(512))
    assert torch.equal(new[1].weight, torch.ones(512))
    assert torch.equal(new[1].bias, torch.zeros(512))
