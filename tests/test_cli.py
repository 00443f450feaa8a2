"""`minivision train`: a tiny run writes its files; user errors give a message and exit code 2."""
import json

import pytest

from minivision.cli import main
from minivision.training import History, load_checkpoint

TINY = ["--train-samples", "64", "--test-samples", "32", "--batch-size", "32", "--epochs", "1",
        "--no-progress"]


def test_tiny_run_writes_metrics_plot_config_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert "final test accuracy: top-1" in capsys.readouterr().out
    assert {"metrics.json", "history.png", "config.json", "last.pt"} <= {p.name for p in out.iterdir()}
    history = History.from_json(out / "metrics.json")
    assert len(history) == 1 and 0.0 <= history[-1]["test_top1"] <= 1.0
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["model"] == "vit_micro_patch8_32" and config["train"]["epochs"] == 1
    assert load_checkpoint(out / "last.pt")["position"]["step"] == 2  # 64 / 32
    # --resume (no path) continues from out/last.pt: one more epoch
    assert main(["train", *TINY[:-3], "--epochs", "2", "--no-progress", "--out", str(out),
                 "--resume"]) == 0
    assert len(History.from_json(out / "metrics.json")) == 2


@pytest.mark.parametrize("args, message", [
    (["--model", "vit_huge_nope"], "unknown model 'vit_huge_nope'; choose one of:.*resnet18"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--epochs", "0"], "epochs must be at least 1, got 0"),
    (["--resume", "/nonexistent/last.pt"], "--resume /nonexistent/last.pt: no such checkpoint"),
])
def test_user_errors(tmp_path, capsys, args, message):
    assert main(["train", *TINY, "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minivision train: error:")
    assert "Traceback" not in err
    pytest.importorskip("re").search(message, err) or pytest.fail(f"{message!r} not in {err!r}")


def test_dataset_missing_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # no internet here: torchvision's download fails, and the data package says where to put files
    code = main(["train", *TINY, "--dataset", "cifar100", "--data-root", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert "dataset 'cifar100' was not found" in err and "cifar-100-python" in err


def test_truncated_resume_file_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    assert main(["train", *TINY, "--out", str(tmp_path / "x"), "--resume", str(bad)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_help_exits_zero(capsys):
    assert main(["train", "--help"]) == 0
    assert "--augmentation" in capsys.readouterr().out
