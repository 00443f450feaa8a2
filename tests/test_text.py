"""minivision.text beyond the BLIP/CLIP plumbing (tests/test_multimodal.py): the offline
captioner that describes pixels, the leakage measure, and the tiny CLIP saved to a folder."""
import math

import pytest
import torch
from torch.testing import assert_close

from minivision.data import dataset_info, get_dataset
from minivision.text import (CIFAR10_SYNONYMS, COLOUR_NAMES, describe_images, leak_report,
                             names_class)
from minivision.text.pixel_captions import colour_names

# ---- the offline captioner ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_like():
    """200 small CIFAR-sized images: the built-in shapes (coloured shapes on coloured, noisy
    backgrounds, at random places)."""
    shapes = get_dataset("builtin", train=False, num_samples=200)
    return torch.stack([image for image, _ in shapes])  # (200, 3, 32, 32) in [0, 1]


def test_captions_differ_between_images(cifar_like):
    captions = describe_images(cifar_like)
    assert len(captions) == 200
    assert len(set(captions)) > 100, f"only {len(set(captions))} distinct captions of 200"


def test_no_caption_names_a_class_or_a_synonym(cifar_like):
    forbidden = [word for words in CIFAR10_SYNONYMS.values() for word in words]
    forbidden += list(dataset_info("builtin").classes)  # nor the shapes of the built-in data
    for caption in describe_images(cifar_like) + describe_images(torch.rand(50, 3, 32, 32)):
        assert not names_class(caption, forbidden), caption


def test_the_same_image_always_gets_the_same_caption(cifar_like):
    captions = describe_images(cifar_like)
    assert describe_images(cifar_like.clone()) == captions
    # a caption depends on its image only, not on the rest of the batch or its position in it
    assert describe_images(cifar_like[7:8]) == [captions[7]]
    assert describe_images(cifar_like.flip(0)) == captions[::-1]


def _image(rgb, size=32):
    return torch.tensor(rgb, dtype=torch.float32)[:, None, None].expand(3, size, size).clone()


def test_captions_say_what_was_drawn():
    """Images built so that the answer is known: colour, brightness, place, direction."""
    black = _image([0.0, 0.0, 0.0])
    corner = black.clone()
    corner[:, :12, :12] = 1.0  # a white block at the top left
    stripes = torch.zeros(3, 32, 32)
    stripes[:, ::4] = 0.9  # bright rows: horizontal lines
    upright = stripes.transpose(1, 2).clone()  # bright columns: vertical lines
    sky = _image([0.2, 0.3, 0.9])
    sky[:, 20:] = 0.05  # blue above (20 of 32 rows), near-black below
    captions = describe_images(torch.stack([black, corner, stripes, upright, sky]))
    assert captions[0].startswith("a very dark picture, mostly black,")
    assert "mass at the top left" in captions[1] and "lighter above" in captions[1]
    assert "horizontal lines" in captions[2]
    assert "vertical lines" in captions[3]
    assert "blue and black" in captions[4] and "lighter above" in captions[4]


@pytest.mark.parametrize("rgb, name", [([0.9, 0.1, 0.1], "red"), ([0.1, 0.8, 0.2], "green"),
                                       ([0.1, 0.2, 0.9], "blue"), ([0.95, 0.9, 0.2], "yellow"),
                                       ([0.5, 0.5, 0.5], "grey"), ([0.5, 0.3, 0.1], "brown"),
                                       ([1.0, 1.0, 1.0], "white")])
def test_colour_names(rgb, name):
    assert COLOUR_NAMES[int(colour_names(_image(rgb)[None])[0, 0, 0])] == name


def test_describe_images_rejects_normalised_images():
    with pytest.raises(ValueError, match="Normalize"):
        describe_images(torch.randn(2, 3, 8, 8))


# ---- leakage ------------------------------------------------------------------------------------

CLASSES = list(CIFAR10_SYNONYMS)  # airplane, automobile, bird, ..., ship, truck
HAND_MADE = [  # caption, true class, predicted class, does it name its own class?
    ("a dog lying on the grass", "dog", "dog", True),
    ("two Puppies playing", "dog", "cat", True),  # a synonym, plural, capitalised
    ("a man eating a hotdog", "dog", "dog", False),  # "dog" inside another word
    ("a red sports car parked on a street", "automobile", "automobile", True),
    ("a cat sitting next to a dog", "cat", "cat", True),
    ("a cat in a box", "dog", "cat", False),  # names another class, not its own
    ("a plane flying in the blue sky", "airplane", "airplane", True),
    ("a fire engine at the station", "truck", "truck", True),  # two words
    ("a small animal in the field", "deer", "horse", False),
    ("boats in a harbour", "ship", "ship", True),
    ("a brown animal standing", "horse", "horse", False),
    ("a blurry picture", "frog", "bird", False),
]


def test_names_class_matches_whole_words_and_plurals():
    for caption, label, _, named in HAND_MADE:
        assert names_class(caption, CIFAR10_SYNONYMS[label]) == named, caption


def test_leak_report_on_hand_made_captions():
    captions = [c for c, *_ in HAND_MADE]
    labels = [CLASSES.index(y) for _, y, _, _ in HAND_MADE]
    predictions = [CLASSES.index(p) for _, _, p, _ in HAND_MADE]
    report = leak_report(captions, labels, predictions, CIFAR10_SYNONYMS)
    # counted by hand from the table: 7 of 12 name their class; 6 of those 7 are right
    # (the puppies are not), and 2 of the other 5 are right (hotdog, brown animal)
    assert (report.num_captions, report.num_named) == (12, 7)
    assert report.named_share == pytest.approx(7 / 12)
    assert report.accuracy_named == pytest.approx(6 / 7)
    assert report.accuracy_unnamed == pytest.approx(2 / 5)
    assert report.named.tolist() == [named for *_, named in HAND_MADE]
    # the words may also come as a list in class order
    again = leak_report(captions, torch.tensor(labels), torch.tensor(predictions),
                        list(CIFAR10_SYNONYMS.values()))
    assert again.named.tolist() == report.named.tolist()


def test_leak_report_when_every_caption_names_its_class():
    report = leak_report(["a cat", "a dog"], [3, 5], [3, 3], CIFAR10_SYNONYMS)
    assert report.named_share == 1.0 and report.accuracy_named == 0.5
    assert math.isnan(report.accuracy_unnamed)


def test_leak_report_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one of each per image"):
        leak_report(["a cat"], [3, 3], [3, 3], CIFAR10_SYNONYMS)
    with pytest.raises(ValueError, match="has no words"):
        leak_report(["a cat"], [12], [3], CIFAR10_SYNONYMS)


# ---- the tiny CLIP in a folder -----------------------------------------------------------------


def test_tiny_clip_saved_to_a_folder_loads_back(tmp_path):
    pytest.importorskip("open_clip")
    from safetensors.torch import load_file

    from minivision.text import clip_text_embeddings, load_clip, make_tiny_clip

    folder = make_tiny_clip(tmp_path / "clip", seed=3)
    model, tokenizer = load_clip(f"local-dir:{folder}", pretrained="ignored", device="cpu")
    saved = load_file(folder / "open_clip_model.safetensors")
    loaded = model.state_dict()
    assert saved.keys() == loaded.keys()
    for name in saved:
        assert torch.equal(saved[name], loaded[name]), name
    other = load_file(make_tiny_clip(tmp_path / "other", seed=4) / "open_clip_model.safetensors")
    assert not torch.equal(other["text_projection"], saved["text_projection"])
    texts = ["a dark picture", "a bright picture, mostly blue"]
    with torch.no_grad():
        reference = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)
    assert_close(clip_text_embeddings(texts, model, tokenizer, progress=False), reference)
