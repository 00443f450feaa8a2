"""benchmarks/time_to_accuracy.py: the threshold crossings read off a hand-made log, a
seconds-long quick run whose JSON has every field, and lesson 04 quoting the measured CPU run."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "time_to_accuracy.py"
CPU_RESULT = ROOT / "benchmarks" / "results" / "time_to_accuracy_cct_cpu_cpu.json"
LESSON = ROOT / "lessons" / "04_training_from_scratch.ipynb"


def load_script():
    spec = importlib.util.spec_from_file_location("time_to_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_crossings_on_a_hand_made_log():
    tta = load_script()
    log = [{"epoch": 1, "wall_s": 10.0, "test_top1": 0.55},
           {"epoch": 2, "wall_s": 20.0, "test_top1": 0.70},  # exactly 70%: reached
           {"epoch": 3, "wall_s": 30.0, "test_top1": 0.69},  # a dip does not undo it
           {"epoch": 4, "wall_s": 40.0, "test_top1": 0.85},  # 80% first here
           {"epoch": 5, "wall_s": 50.0, "test_top1": 0.905}]
    crossings = tta.first_crossings(log)
    assert crossings == {"70": {"wall_s": 20.0, "epoch": 2}, "80": {"wall_s": 40.0, "epoch": 4},
                         "90": {"wall_s": 50.0, "epoch": 5}, "94": None}
    assert tta.first_crossings([], thresholds=(0.5,)) == {"50": None}


def test_epochs_for_budget_by_hand():
    tta = load_script()
    # an epoch: (5,000 + 3,000 / 3) images at 100/s = 60 s; 1,000 s less 15% = 850 s, 100 spent
    assert tta.epochs_for_budget(1000, 100, 100.0, 5000, 3000) == 12  # 750 // 60
    assert tta.epochs_for_budget(1000, 100, 100.0, 5000, 3000, margin=0.0) == 15  # 900 // 60
    assert tta.epochs_for_budget(100, 99, 1.0, 5000, 3000) == 1  # always at least one


def test_every_recipe_says_why_and_builds(tmp_path):
    tta = load_script()
    from minivision.data import dataset_info

    assert {"vit_tiny", "resnet18", "vit_tiny_fast", "cct_cpu"} <= set(tta.RECIPES)
    for name, recipe in tta.RECIPES.items():
        assert recipe.why, name
        model = tta.build_model(recipe, dataset_info("cifar10"))
        assert sum(p.numel() for p in model.parameters()) > 0
    assert tta.RECIPES["cct_cpu"].hardware == "cpu"


def test_quick_run_writes_every_field(tmp_path):
    tta = load_script()
    out = tmp_path / "result.json"
    tta.main(["cct_cpu", "--quick", "--dataset", "builtin", "--threads", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    for key in ("recipe", "recipe_settings", "train_config", "dataset", "train_samples",
                "test_samples", "quick", "seed", "torch_version", "hardware", "command",
                "eval_cadence", "eval_share", "data_ready_s", "total_wall_s", "time_to",
                "final_top1", "best_top1", "log", "load_average_before", "load_average_after"):
        assert key in result, key
    assert result["quick"] is True and result["train_samples"] == 512
    assert set(result["time_to"]) == {"70", "80", "90", "94"}
    assert {"cpu_model", "torch_threads", "gpu_name", "slug"} <= set(result["hardware"])
    assert result["hardware"]["torch_threads"] == 1
    log = result["log"]
    assert [row["epoch"] for row in log] == [1, 2]
    assert 0 < log[0]["wall_s"] < log[1]["wall_s"] <= result["total_wall_s"]
    assert result["final_top1"] == log[-1]["test_top1"]
    assert result["time_to"] == tta.first_crossings(log)
    assert 0 <= result["eval_share"] < 1


def lesson_markdown() -> str:
    notebook = json.loads(LESSON.read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"]
                     if cell["cell_type"] == "markdown")


@pytest.mark.skipif(not CPU_RESULT.exists(), reason="the measured CPU run is not recorded yet")
def test_lesson_04_quotes_the_measured_cpu_run():
    """Every number lesson 04 gives for the CPU run is the recorded JSON's, rounded as printed."""
    result = json.loads(CPU_RESULT.read_text())
    text = " ".join(lesson_markdown().split())  # the paragraph wraps anywhere
    epochs = re.search(r"the budget chose (\d+) epochs", text)
    assert epochs, "lesson 04 does not say how many epochs the CPU budget chose"
    assert int(epochs.group(1)) == result["log"][-1]["epoch"]
    for level in ("70", "80"):
        crossing = result["time_to"][level]
        assert crossing is not None, f"the recorded run never reached {level}%"
        seconds = f"{crossing['wall_s']:,.0f}"
        assert re.search(rf"{level}%[^.]*? after {seconds} s", text), \
            f"lesson 04 does not quote the {level}% crossing at {seconds} s"
    minutes_80 = f"{result['time_to']['80']['wall_s'] / 60:.1f}"
    assert f"({minutes_80} minutes)" in text
    final = (f"ended at {100 * result['final_top1']:.2f}% "
             f"after {result['total_wall_s'] / 60:.1f} minutes")
    assert final in text, f"lesson 04 does not say it {final}"
    assert result["command"] in text
    assert result["hardware"]["cpu_model"] in text
    assert f"{result['hardware']['torch_threads']} torch threads" in text
