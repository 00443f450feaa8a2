"""Lesson 10's pipeline, offline: tiny random BLIP and CLIP, the caption cache, the classifier."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torchvision.transforms.functional import to_pil_image

from minivision import CaptionConditionedClassifier, VisionTransformer
from minivision.text import (TINY_CLIP_CONFIG, TINY_VOCAB, StaleCacheError, blip_inputs,
                             cached_captions, caption_images, clip_text_embeddings, load_blip,
                             load_clip, make_tiny_blip, make_tiny_clip_config)

pytest.importorskip("transformers")
pytest.importorskip("open_clip")


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: a second thread only adds synchronisation, and on a busy 2-core
    machine a token-by-token ``generate`` ran 40x slower with two threads than with one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- BLIP --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_blip_dir(tmp_path_factory):
    return make_tiny_blip(tmp_path_factory.mktemp("tiny_blip"))


@pytest.fixture(scope="module")
def blip(tiny_blip_dir):
    return load_blip(tiny_blip_dir, device="cpu")


def test_tiny_blip_loads_back_through_load_blip(tiny_blip_dir, blip):
    processor, model = blip
    assert not model.training
    # the tokenizer really read our vocab.txt (BertTokenizer(vocab_file=...) would not have)
    assert sorted(processor.tokenizer.get_vocab()) == sorted(TINY_VOCAB)
    assert model.config.text_config.vocab_size == len(TINY_VOCAB)
    # the same seed gives the same weights: what was saved is what a fresh build makes
    _, again = load_blip(make_tiny_blip(tiny_blip_dir.parent / "again"), device="cpu")
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), name


def test_blip_inputs_normalise_tensors_and_pil_images_alike(blip):
    processor, _ = blip
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    mean = torch.tensor(processor.image_processor.image_mean).reshape(1, 3, 1, 1)
    std = torch.tensor(processor.image_processor.image_std).reshape(1, 3, 1, 1)
    expected = (images / 255 - mean) / std  # (2, 3, 32, 32): already the processor's size
    from_tensor = blip_inputs(images / 255, processor)["pixel_values"]
    from_pil = blip_inputs([to_pil_image(image) for image in images], processor)["pixel_values"]
    assert_close(from_tensor, expected, atol=1e-5, rtol=0)
    assert_close(from_pil, expected, atol=1e-5, rtol=0)


def test_captions_are_deterministic_and_match_generate(blip):
    processor, model = blip
    images = torch.rand(5, 3, 32, 32)
    captions = caption_images(images, processor, model, batch_size=2, max_new_tokens=6, progress=False)
    assert len(captions) == 5 and all(isinstance(c, str) and c for c in captions)
    assert set(" ".join(captions).split()) <= set(TINY_VOCAB)
    assert caption_images(images, processor, model, batch_size=5, max_new_tokens=6, progress=False) == captions
    # the reference: one greedy generate call on the whole batch
    inputs = processor(images=list(images), return_tensors="pt", do_rescale=False)
    ids = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert processor.batch_decode(ids, skip_special_tokens=True) == captions


def test_prompted_captions_continue_the_prompt(blip):
    processor, model = blip
    captions = caption_images(torch.rand(2, 3, 32, 32), processor, model, prompt="a photo of",
                              max_new_tokens=4, progress=False)
    assert all(c.startswith("a photo of") for c in captions)


def test_caption_images_rejects_normalised_or_unbatched_images(blip):
    processor, model = blip
    with pytest.raises(ValueError, match=r"in \[0, 1\].*Normalize"):
        caption_images(torch.randn(2, 3, 32, 32), processor, model, progress=False)
    with pytest.raises(ValueError, match=r"images\[None\]"):
        caption_images(torch.rand(3, 32, 32), processor, model, progress=False)


def test_load_blip_offline_without_a_copy_says_what_to_do(tmp_path):
    with pytest.raises(OSError, match="make_tiny_blip"):
        load_blip(tmp_path / "no_such_model", device="cpu")


# ---- the caption cache ---------------------------------------------------------------------------


class CountingCaptioner:
    """A fake captioner: image i (filled with i / 100) is captioned "image i"; counts what it sees."""

    def __init__(self, fail_on_call=None):
        self.calls, self.seen, self.fail_on_call = 0, [], fail_on_call

    def __call__(self, images):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # what Ctrl-C or a dropped Colab session looks like
        indices = [round(float(image[0, 0, 0]) * 100) for image in images]
        self.seen += indices
        return [f"image {i}" for i in indices]


def _dataset(n):
    return [(torch.full((3, 4, 4), i / 100), i % 2) for i in range(n)]


EXPECTED = [f"image {i}" for i in range(7)]


def test_cache_captions_once_then_reads_the_file(tmp_path):
    path = tmp_path / "captions.json"
    captioner = CountingCaptioner()
    first = cached_captions(_dataset(7), captioner, path, model_name="fake", batch_size=3, progress=False)
    assert first == EXPECTED
    assert captioner.calls == math.ceil(7 / 3) and captioner.seen == list(range(7))
    stored = json.loads(path.read_text())
    assert stored["captions"] == {str(i): c for i, c in enumerate(EXPECTED)}

    second = CountingCaptioner()
    assert cached_captions(_dataset(7), second, path, model_name="fake", progress=False) == EXPECTED
    assert second.calls == 0


@pytest.mark.parametrize("n, model_name", [(8, "fake"), (7, "another model")])
def test_stale_cache_is_detected(tmp_path, n, model_name):
    path = tmp_path / "captions.json"
    cached_captions(_dataset(7), CountingCaptioner(), path, model_name="fake", progress=False)
    with pytest.raises(StaleCacheError, match="Delete the file"):
        cached_captions(_dataset(n), CountingCaptioner(), path, model_name=model_name, progress=False)


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    path = tmp_path / "captions.json"
    interrupted = CountingCaptioner(fail_on_call=3)  # batches [0, 1], [2, 3] done, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        cached_captions(_dataset(7), interrupted, path, model_name="fake", batch_size=2,
                        save_every=1, progress=False)
    assert json.loads(path.read_text())["captions"] == {str(i): f"image {i}" for i in range(4)}
    assert [p.name for p in tmp_path.iterdir()] == ["captions.json"]  # no temporary file left

    resumed = CountingCaptioner()
    captions = cached_captions(_dataset(7), resumed, path, model_name="fake", batch_size=2,
                               save_every=1, progress=False)
    assert captions == EXPECTED
    assert resumed.seen == [4, 5, 6]  # only what was missing


def test_cache_rejects_a_captioner_that_drops_images(tmp_path):
    with pytest.raises(ValueError, match="returned 1 captions for 2 images"):
        cached_captions(_dataset(2), lambda images: ["one"], tmp_path / "c.json",
                        model_name="fake", progress=False)


# ---- CLIP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    name = make_tiny_clip_config(tmp_path_factory.mktemp("tiny_clip"))
    return load_clip(name, pretrained=None, device="cpu")


TEXTS = ["a red circle", "a blue square on a dark background", "a star", "tee", "a ring"]


@pytest.mark.parametrize("normalize", [True, False])
def test_clip_text_embeddings_equal_encode_text(clip, normalize):
    model, tokenizer = clip
    E = TINY_CLIP_CONFIG["embed_dim"]
    out = clip_text_embeddings(TEXTS, model, tokenizer, batch_size=2, normalize=normalize, progress=False)
    assert out.shape == (len(TEXTS), E) and not out.requires_grad
    with torch.no_grad():
        ref = model.encode_text(tokenizer(TEXTS))  # (N, E)
    if normalize:
        ref = F.normalize(ref, dim=-1)
        assert_close(out.norm(dim=-1), torch.ones(len(TEXTS)))
    assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_load_clip_without_weights_says_what_to_do(clip):
    with pytest.raises(RuntimeError, match="pretrained=None"):
        load_clip("minivision-tiny-clip", pretrained="openai", device="cpu")


# ---- the classifier -------------------------------------------------------------------------------

B, E, M, NUM_CLASSES = 3, 24, 4, 5


@pytest.fixture
def model():
    backbone = VisionTransformer(image_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2,
                                 mlp_ratio=2.0, num_classes=0)
    return CaptionConditionedClassifier(backbone, text_dim=E, num_classes=NUM_CLASSES).eval()


@pytest.fixture
def inputs():
    return torch.rand(B, 3, 16, 16), torch.randn(B, M, E)


def test_forward_is_backbone_then_cross_attention_then_head(model, inputs):
    images, text = inputs
    tokens = model.backbone.forward_features(images)  # (B, N, D)
    x = model.norm(model.cross(tokens, model.text_proj(text)))
    assert_close(model(images, text), model.head(x[:, 0]))
    assert model(images, text).shape == (B, NUM_CLASSES)


def test_text_none_skips_the_cross_attention(model, inputs):
    images, text = inputs
    tokens = model.backbone.forward_features(images)
    assert_close(model(images), model.head(model.norm(tokens)[:, 0]))
    assert not torch.allclose(model(images), model(images, text))


def test_the_text_changes_the_logits(model, inputs):
    images, text = inputs
    logits = model(images, text)
    other = model(images, text.roll(1, dims=0))  # every image gets another image's caption
    assert (logits - other).abs().amax(dim=1).min() > 1e-4  # every row changed
    # padded text positions are ignored: changing them changes nothing
    mask = torch.zeros(B, M, dtype=torch.bool)
    mask[:, 2:] = True
    changed = text.clone()
    changed[:, 2:] = torch.randn(B, M - 2, E)
    assert_close(model(images, text, text_padding_mask=mask), model(images, changed, text_padding_mask=mask))


def test_one_embedding_per_image_is_a_context_of_length_one(model, inputs):
    images, text = inputs
    sentence = text[:, 0]  # (B, E): one CLIP embedding per caption
    assert_close(model(images, sentence), model(images, sentence[:, None]))
    # with M = 1 the softmax has one key: every image token gives it weight 1
    tokens = model.backbone.forward_features(images)
    _, attn = model.cross(tokens, model.text_proj(sentence[:, None]), return_attn=True)
    assert_close(attn, torch.ones_like(attn))


def test_every_parameter_gets_a_gradient(model, inputs):
    images, text = inputs
    model.train()
    model(images, text).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert torch.isfinite(model.text_proj.weight.grad).all()


def test_bad_text_raises_a_clear_error(model, inputs):
    images, text = inputs
    with pytest.raises(ValueError, match=r"text_dim=7"):
        model(images, torch.randn(B, M, 7))
    with pytest.raises(ValueError, match="batch sizes: 3 vs 2"):
        model(images, text[:2])
    with pytest.raises(ValueError, match=r"\(B, M, 24\)"):
        model(images, text[None])
    with pytest.raises(ValueError, match="without text"):
        model(images, text_padding_mask=torch.zeros(B, M, dtype=torch.bool))
