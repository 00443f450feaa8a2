"""History: one record (a dict of numbers) per epoch, saved as JSON and plotted."""
import json
from pathlib import Path


class History:
    """The per-epoch metrics of a run, in order.

    ``history[-1]`` is the last record (a dict), ``history["test_top1"]`` the list of one
    metric over the epochs (None where an epoch lacks it).
    """

    def __init__(self, records: list[dict] | None = None):
        self.records = [dict(r) for r in (records or [])]

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [record.get(key) for record in self.records]
        return self.records[key]

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        return f"History({len(self)} epochs, last={last})"

    @property
    def metrics(self) -> list[str]:
        names = {}
        for record in self.records:
            names.update(dict.fromkeys(record))
        return list(names)

    def best(self, metric: str = "test_top1", mode: str | None = None) -> dict:
        """The record with the best value of ``metric``: the largest, or the smallest for
        metrics with "loss" in their name (``mode="max"``/``"min"`` overrides)."""
        rows = [r for r in self.records if r.get(metric) is not None]
        if not rows:
            raise ValueError(f"no epoch has the metric {metric!r}; the metrics are {self.metrics}.")
        mode = mode or ("min" if "loss" in metric else "max")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        pick = min if mode == "min" else max
        return pick(rows, key=lambda r: r[metric])

    def to_json(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.records, indent=2))
        return path

    @classmethod
    def from_json(cls, path) -> "History":
        return cls(json.loads(Path(path).read_text()))


def plot_history(history: History, metrics: list[str] | None = None):
    """Loss curves on the left, accuracies on the right, against the epoch.

    Args:
        history: a :class:`History` (or a list of records).
        metrics: the names to draw; default: train/test loss and train/test top-1 accuracy.

    Returns:
        a matplotlib Figure (not shown: display it, or ``fig.savefig(...)``).
    """
    import matplotlib.pyplot as plt

    history = history if isinstance(history, History) else History(history)
    if metrics is None:
        metrics = [m for m in ("train_loss", "test_loss", "train_acc", "test_top1", "test_top5")
                   if m in history.metrics]
    panels = {"loss": [m for m in metrics if "loss" in m],
              "accuracy": [m for m in metrics if "loss" not in m]}
    panels = {title: names for title, names in panels.items() if names}
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 3.5),
                             squeeze=False)
    for ax, (title, names) in zip(axes[0], panels.items()):
        for name in names:
            points = [(r["epoch"], r[name]) for r in history if r.get(name) is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
