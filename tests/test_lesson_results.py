"""benchmarks/results/lessons.json: every entry is what its lesson printed, and RESULTS.md's
table of the lessons against the course is the one generated from it."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("lesson_results", ROOT / "tools/lesson_results.py")
lesson_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lesson_results)

ENTRIES = lesson_results.load_entries()
GOOD = {"lesson": "02", "row": "with STN", "metric": "m", "course": "60.18%", "ours": "81.3%",
        "seeds": 1, "hardware": "cuda: X", "same_setting": True}
OUTPUTS = ["with STN                             98.3%     81.3%", "cuda: X | torch 2"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['lesson']}-{e['row']}")
def test_entry_is_what_the_lesson_printed(entry):
    assert lesson_results.problems(entry, lesson_results.lesson_outputs(entry["lesson"])) == []


def test_results_md_holds_the_generated_table():
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert lesson_results.results_md_table(text) == lesson_results.table(ENTRIES), (
        "RESULTS.md's table differs from lessons.json: run python tools/lesson_results.py --write")


def test_every_lesson_with_a_course_number_has_entries():
    assert {e["lesson"] for e in ENTRIES} >= {"01", "02", "05", "07", "08", "09"}


def test_the_checks_catch_what_they_are_for():
    assert lesson_results.problems(GOOD, OUTPUTS) == []
    assert "no output line" in lesson_results.problems({**GOOD, "ours": "81.4%"}, OUTPUTS)[0]
    assert "hardware" in lesson_results.problems({**GOOD, "hardware": "cpu: Y"}, OUTPUTS)[0]
    assert "seeds" in lesson_results.problems({**GOOD, "seeds": "1"}, OUTPUTS)[0]
    losing = {**GOOD, "course": "90%"}  # same setting, below the course, nothing said
    assert "limit" in lesson_results.problems(losing, OUTPUTS)[0]
    assert lesson_results.problems({**losing, "limit": "measured: ..."}, OUTPUTS) == []
    assert lesson_results.problems({**losing, "same_setting": False}, OUTPUTS) == []
    assert lesson_results.percent("97-98%") == 98 and lesson_results.percent("0.78") is None
