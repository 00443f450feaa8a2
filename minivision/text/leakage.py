"""Label leakage through captions: does the text simply name the class?

A captioner trained on the web, shown a CIFAR-10 dog, writes "a dog on the grass": the label, in
words. A classifier that reads the caption can then score well by reading it (Kaufman et al. 2012
call information about the target that reaches the model this way *leakage*). This module
measures it directly: the share of captions that name their image's class or a synonym, and the
accuracy on the captions that do not.
"""
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

CIFAR10_SYNONYMS = {
    "airplane": ("airplane", "aeroplane", "plane", "airliner", "aircraft", "jet", "jetliner",
                 "airbus", "boeing", "biplane", "seaplane", "airship"),
    "automobile": ("automobile", "car", "sedan", "coupe", "convertible", "hatchback", "suv",
                   "taxi", "limousine", "jeep", "minivan", "van", "wagon"),
    "bird": ("bird", "sparrow", "finch", "robin", "parrot", "eagle", "hawk", "owl", "ostrich",
             "emu", "chicken", "hen", "rooster", "duck", "goose", "geese", "swan", "pigeon",
             "gull", "seagull", "peacock", "penguin", "heron", "crow"),
    "cat": ("cat", "kitten", "kitty", "tabby", "feline"),
    "deer": ("deer", "fawn", "doe", "stag", "elk", "moose", "reindeer", "antelope", "caribou"),
    "dog": ("dog", "puppy", "pup", "hound", "terrier", "poodle", "retriever", "labrador",
            "spaniel", "beagle", "chihuahua", "dachshund", "bulldog", "collie", "shepherd"),
    "frog": ("frog", "toad", "tadpole", "bullfrog", "amphibian"),
    "horse": ("horse", "pony", "foal", "stallion", "mare", "colt", "mule", "donkey", "zebra"),
    "ship": ("ship", "boat", "vessel", "yacht", "ferry", "sailboat", "freighter", "tanker",
             "tugboat", "steamer", "liner", "cruiser", "battleship", "canoe", "kayak"),
    "truck": ("truck", "lorry", "pickup", "firetruck", "fire engine", "semi", "trailer",
              "tractor", "bus"),
}
"""CIFAR-10's ten classes and the words a captioner may use for them (plurals match too)."""


def _pattern(words: Sequence[str]) -> re.Pattern:
    """Whole words, case-insensitive, singular or plural: 'dog' matches 'Dogs', 'puppy'
    matches 'puppies'."""
    forms = []
    for word in sorted(words, key=len, reverse=True):
        forms.append(rf"{re.escape(word)}(?:s|es)?")
        if word.endswith("y"):
            forms.append(re.escape(word[:-1] + "ies"))
    return re.compile(rf"\b(?:{'|'.join(forms)})\b", re.IGNORECASE)


def names_class(caption: str, words: Sequence[str]) -> bool:
    """Whether ``caption`` contains one of ``words`` as a whole word (or its plural).

    >>> names_class("two Dogs on the grass", ["dog", "puppy"])
    True
    >>> names_class("a hotdog stand", ["dog"])
    False
    """
    return _pattern(words).search(caption) is not None


@dataclass(frozen=True)
class LeakReport:
    """How often captions name their image's class, and the accuracy with and without the name.

    ``accuracy_unnamed`` is the number to compare with an image-only model on the same images:
    the captions there cannot pass the class name on. It is NaN when every caption names it.
    """

    num_captions: int
    num_named: int
    named_share: float
    accuracy_named: float
    accuracy_unnamed: float
    named: torch.Tensor  # (N,) bool, True where caption i names the class of image i


def leak_report(captions: Sequence[str], labels, predictions,
                class_words: Mapping[str, Sequence[str]] | Sequence[Sequence[str]],
                ) -> LeakReport:
    """The share of captions that name their image's class, and the accuracy on the others.

    Args:
        captions: N captions, caption i for image i.
        labels: N true class indices (a tensor or a list).
        predictions: N predicted class indices of the classifier that read the captions.
        class_words: for each class index, the words that name it: a list in class order, or a
            mapping in class order such as :data:`CIFAR10_SYNONYMS`.

    Returns:
        a :class:`LeakReport`.
    """
    labels, predictions = torch.as_tensor(labels).long(), torch.as_tensor(predictions).long()
    words = list(class_words.values()) if isinstance(class_words, Mapping) else list(class_words)
    if not len(captions) == len(labels) == len(predictions):
        raise ValueError(f"got {len(captions)} captions, {len(labels)} labels and "
                         f"{len(predictions)} predictions; pass one of each per image.")
    if labels.numel() and int(labels.max()) >= len(words):
        raise ValueError(f"label {int(labels.max())} has no words: class_words lists "
                         f"{len(words)} classes.")
    patterns = [_pattern(w) for w in words]
    named = torch.tensor([patterns[y].search(c) is not None
                          for c, y in zip(captions, labels.tolist())], dtype=torch.bool)
    correct = (predictions == labels).float()
    return LeakReport(
        num_captions=len(captions), num_named=int(named.sum()),
        named_share=float(named.float().mean()) if len(captions) else float("nan"),
        accuracy_named=_mean(correct[named]), accuracy_unnamed=_mean(correct[~named]),
        named=named,
    )


def _mean(x: torch.Tensor) -> float:
    return float(x.mean()) if x.numel() else float("nan")


__all__ = ["CIFAR10_SYNONYMS", "LeakReport", "leak_report", "names_class"]
