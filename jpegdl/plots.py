"""Plots people would rather look at than read (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_tables(tables: dict, output: str | Path, title: str = "") -> Path:
    """Heatmaps of learned luma (and chroma) steps, with the values written in.

    Args:
        tables: ``{"luma": 8x8, "chroma": 8x8 (optional), "movement": {...} (optional)}``, as
            ``jpegdl.runs.run_tables`` returns.
        output: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ("luma", "chroma") if n in tables]
    figure, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.2), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        values = np.asarray(tables[name], dtype=float)
        image = axis.imshow(values, cmap="viridis")
        axis.set_title(f"{name} steps (row: vertical freq.)")
        axis.set_xticks(range(8))
        axis.set_yticks(range(8))
        for (row, col), value in np.ndenumerate(values):
            axis.text(
                col,
                row,
                f"{value:.0f}" if value >= 10 else f"{value:.1f}",
                ha="center",
                va="center",
                color="white" if value < values.max() * 0.6 else "black",
                fontsize=7,
            )
        figure.colorbar(image, ax=axis, fraction=0.046)
    moved = tables.get("movement")
    moved_text = "" if not moved else f"\nmoved {moved['mean_abs_log_ratio']:.3f} mean |log(q / q0)| from the start"
    figure.suptitle(f"learned JPEG tables{': ' + title if title else ''}{moved_text}", fontsize=10)
    figure.tight_layout()
    path = Path(output)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_rate_accuracy(
    points: list[dict],
    output: str | Path,
    models: list[str] | None = None,
    rate_keys: tuple[str, ...] = ("payload_bpp", "bpp"),
    uncompressed: dict[str, float] | None = None,
    title: str = "",
) -> Path:
    """Accuracy vs bits per pixel, one panel per (model, rate measure), one line per codec.

    ``points`` are ``OperatingPoint.to_dict()`` records; probabilistic seeds are averaged.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from jpegdl.evaluate.rate_accuracy import curve_of

    models = models or sorted({m for p in points for m in p["accuracy"]})
    labels = {"payload_bpp": "payload bpp (scan data)", "bpp": "bpp (whole file)"}
    figure, axes = plt.subplots(len(models), len(rate_keys), figsize=(5.2 * len(rate_keys), 3.8 * len(models)),
                                squeeze=False)  # fmt: skip
    codecs = list(dict.fromkeys(p["codec"] for p in points))
    for row, model in enumerate(models):
        for col, key in enumerate(rate_keys):
            axis = axes[row][col]
            for codec in codecs:
                xy = sorted(curve_of(points, codec, model, key))
                if not xy:
                    continue
                axis.plot([x for x, _ in xy], [100 * y for _, y in xy], marker="o", markersize=3, label=codec)
            if uncompressed and model in uncompressed:
                axis.axhline(100 * uncompressed[model], color="gray", linestyle=":", label="uncompressed")
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(ticker.NullFormatter())
            axis.set_xlabel(labels.get(key, key))
            axis.set_ylabel(f"{model} top-1 (%)")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_robustness(runs: dict[str, dict], output: str | Path, title: str = "") -> Path:
    """Accuracy vs epsilon (in 1/255 units), one panel per attack, one line per run.

    ``runs`` maps a run label to ``{attack: robust_accuracy result}`` (``jpegdl.robust``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = list(dict.fromkeys(a for result in runs.values() for a in result))
    figure, axes = plt.subplots(1, len(attacks), figsize=(5.2 * len(attacks), 3.9), squeeze=False)
    for axis, attack in zip(axes[0], attacks, strict=True):
        for label, result in runs.items():
            if attack not in result:
                continue
            curve = result[attack]
            xs = [0.0] + [255 * p["eps"] for p in curve["points"] if p["eps"] > 0]
            ys = [100 * curve["clean"]] + [100 * p["robust"] for p in curve["points"] if p["eps"] > 0]
            axis.plot(xs, ys, marker="o", markersize=3, label=label)
        axis.set_xlabel("epsilon (x 1/255)")
        axis.set_ylabel("top-1 under attack (%)")
        axis.set_title(attack)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, output)


def plot_saliency_grid(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    captions: dict[str, list[str]],
    output: str | Path,
    title: str = "",
) -> Path:
    """Rows of images: the input, then each model's saliency map laid over it.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, 3)`` float in [0, 1].
        maps: model label -> ``(N, H, W)`` saliency in [0, 1].
        captions: model label -> one caption per image (e.g. the predicted class).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count, columns = len(images), 1 + len(maps)
    figure, axes = plt.subplots(count, columns, figsize=(2.2 * columns, 2.3 * count), squeeze=False)
    gray = images.ndim == 3
    for row in range(count):
        axes[row][0].imshow(images[row], cmap="gray" if gray else None, vmin=0, vmax=1)
        axes[row][0].set_title("input", fontsize=8)
        for col, (label, saliency) in enumerate(maps.items(), start=1):
            axes[row][col].imshow(images[row], cmap="gray" if gray else None, vmin=0, vmax=1)
            axes[row][col].imshow(saliency[row], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            axes[row][col].set_title(f"{label}\n{captions[label][row]}", fontsize=7)
        for axis in axes[row]:
            axis.axis("off")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, output)


def _save(figure, output: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_search_curve(curves: dict[str, tuple[list[float], list[float]]], output: str | Path,
                      title: str = "LAW proxy search: reward per episode") -> Path:  # fmt: skip
    """A policy search's learning curve: each episode's reward (dots) and its moving average (line).

    Args:
        curves: ``{label: (rewards, moving_average)}``, one entry per search.
        output: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for label, (rewards, average) in curves.items():
        episodes = range(1, len(rewards) + 1)
        line = axis.plot(episodes, average, "-", label=f"{label}: moving average")[0]
        axis.plot(episodes, rewards, ".", alpha=0.3, color=line.get_color(), label=f"{label}: reward")
    axis.axhline(0, color="grey", lw=0.8)
    axis.set_xlabel("episode")
    axis.set_ylabel("episode reward (DNR, summed over stages)")
    axis.set_title(title)
    axis.legend(fontsize=7)
    return _save(figure, output)
