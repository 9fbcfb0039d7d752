"""``jpegdl demo``: encode bundled photographs with the differentiable codec and with libjpeg-turbo,
and show how closely they agree, with the bytes of the real files."""

from __future__ import annotations

import time

import numpy as np
import torch

from jpegdl.data.photos import load_photos
from jpegdl.files import jpeg_bytes, payload_bytes, read_coefficients, read_image, to_tensor, write_coefficients
from jpegdl.jpeg import DiffJPEG, QuantTables, encode


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between images in [0, 1] (inf when identical)."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def run_codec_demo(
    qualities: tuple[int, ...] = (10, 50, 75, 90),
    subsamplings: tuple[str, ...] = ("4:2:0", "4:4:4"),
    photo_names: tuple[str, ...] = ("astronaut", "chelsea", "coffee"),
) -> None:
    """Encode photos with jpegdl and with libjpeg-turbo and print how closely they agree."""
    photos = load_photos(photo_names)
    header = (
        f"{'photo':<10} {'size':>9} {'samp':>5} {'q':>3} {'coef identical':>14} {'PSNR vs libjpeg':>15}"
        f" {'soft PSNR':>9} {'bytes':>7} {'ours':>7} {'payload':>7} {'bpp':>6}"
    )
    print("jpegdl codec vs libjpeg-turbo (Pillow) on scikit-image photographs")
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    soft_codec = {s: DiffJPEG(s, quantizer="soft", alpha=5.0) for s in subsamplings}
    for name, array in photos.items():
        x = to_tensor(array)
        height, width = array.shape[:2]
        for subsampling in subsamplings:
            for quality in qualities:
                tables = QuantTables.from_quality(quality)
                data = jpeg_bytes(array, tables, subsampling)
                real = read_image(data)
                ours = encode(x, tables, subsampling)
                theirs = read_coefficients(data)
                same = sum(int((a == b).sum()) for a, b in zip(ours.components, theirs.components, strict=True))
                total = sum(c.numel() for c in ours.components)
                ours_bytes = len(write_coefficients(ours))
                ours_pixels = DiffJPEG(subsampling, quantizer="hard")(x, tables)
                soft_pixels = soft_codec[subsampling](x, tables.to(dtype=torch.float32))
                bpp = 8 * len(data) / (height * width)
                print(
                    f"{name:<10} {f'{height}x{width}':>9} {subsampling:>5} {quality:>3} {100 * same / total:>13.3f}%"
                    f" {psnr(ours_pixels, real):>15.2f} {psnr(soft_pixels, real):>9.2f}"
                    f" {len(data):>7} {ours_bytes:>7} {payload_bytes(data):>7} {bpp:>6.3f}"
                )
    print(f"\n{len(photos) * len(qualities) * len(subsamplings)} encodes in {time.perf_counter() - start:.1f} s.")
    print("'inf' dB: our decoded pixels are bit-identical to libjpeg-turbo's. 'soft' uses JPEG-DL's soft")
    print("quantizer (alpha = 5), the differentiable training view. 'bytes': libjpeg-turbo's file; 'ours': the")
    print("file jpegdl writes from its own coefficients (same size when they agree). Optimized Huffman, baseline.")


def run_training_demo(
    out: str = "runs/demo", epochs: int = 3, limit_train: int = 12000, limit_test: int = 2000
) -> None:
    """A short JPEG-DL training on Fashion-MNIST, then accuracy, learned tables and real bytes."""
    from jpegdl.plots import plot_tables
    from jpegdl.runs import run_tables
    from jpegdl.train import JPEGConfig, TrainConfig, Trainer

    config = TrainConfig(
        model="resnet8", dataset="fashion-mnist", epochs=epochs, batch_size=128, lr=0.05, schedule="cosine",
        limit_train=limit_train, limit_test=limit_test, jpeg=JPEGConfig(init="ijg", quality=90, step_min=1.0),
        out=out,
    )  # fmt: skip
    print(f"\nJPEG-DL: resnet8 behind a trainable JPEG layer, Fashion-MNIST ({limit_train} training images,"
          f" {epochs} epochs; test on {limit_test} images)")  # fmt: skip
    summary = Trainer(config, overwrite=True).fit()
    files = summary["test_files"]
    print(f"test accuracy: soft {100 * summary['test_acc']:.2f}%, hard {100 * summary['test_acc_hard']:.2f}%"
          " (hard = decoding real JPEG files written with the rounded learned tables)")  # fmt: skip
    print("learned luma table (rounded, natural order):")
    for row in summary["tables_rounded"]["luma"]:
        print("    " + " ".join(f"{v:3d}" for v in row))
    print(
        f"test set as real JPEG files with these tables: {files['bpp']:.3f} bpp whole file,"
        f" {files['payload_bpp']:.3f} bpp entropy-coded payload ({files['images']} images)"
    )
    moved = summary["tables_movement"]
    print(f"the tables moved {moved['mean_abs_log_ratio']:.3f} in mean |log(q/q0)| from IJG quality 90;"
          f" {100 * moved['rounded_changed_fraction']:.0f}% of the rounded steps changed")  # fmt: skip
    plot = plot_tables(run_tables(out), f"{out}/tables.png", title=out)
    print(f"plots: {plot}; logs and checkpoint: {out}/ (metrics.csv, summary.json, last.pt)")


def run_j4d_demo(run: str = "runs/demo", lambdas: tuple[float, ...] = (0.003, 0.01, 0.03),
                 images: int = 1024, limit_test: int = 2000) -> None:  # fmt: skip
    """J4D on the demo's classifier: learn tables for it (frozen), then real files next to IJG's, and say
    whether the learned tables send fewer bytes at equal accuracy."""
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.evaluate.rate_accuracy import CodecSpec, rate_accuracy
    from jpegdl.evaluate.report import curve_of
    from jpegdl.j4d import learn_tables
    from jpegdl.train import load_classifier

    model, _ = load_classifier(run)
    train, _ = create_dataset("fashion-mnist", "train", augment=False)
    loader = DataLoader(Subset(train, range(50_000, 50_000 + images)), batch_size=256)
    print(f"\nJ4D: tables learned for that classifier (frozen, JPEG layer removed) on {images:,} unseen training")
    print(f"images (exact search over integer steps: cross-entropy + lambda x entropy of the indices), lambda in"
          f" {list(lambdas)};")  # fmt: skip
    print(f"then real files of {limit_test} test images, next to IJG JPEG")
    folder = f"{run}/j4d-tables"
    for lam in lambdas:
        result = learn_tables(model, loader, lam, sweeps=1, progress=False)
        result.save(f"{folder}/lambda{lam:g}.json")
        print(f"  lambda {lam:g}: learned in {result.settings['seconds']:.0f} s")
    test, _ = create_dataset("fashion-mnist", "test", augment=False)
    codecs = [CodecSpec("ijg"), CodecSpec("learned", folder, "learned"), CodecSpec("guided-ijg", label="guided")]
    report = rate_accuracy({"resnet8": model}, test, codecs, qualities=(5, 10, 20, 30, 50, 75, 90),
                           guided_thresholds=(0.003, 0.03, 0.3), limit=limit_test, progress=False)  # fmt: skip
    clean = report["uncompressed_accuracy"]["resnet8"]
    print(f"uncompressed accuracy {100 * clean:.2f}% (the classifier was trained behind the JPEG-DL layer, so it is")
    print("used to JPEG-processed inputs: uncompressed images can score lower than compressed ones)")
    print(f"{'codec':10} {'setting':>12} {'payload bpp':>11} {'file bpp':>9} {'accuracy':>9}")
    for point in report["points"]:
        print(f"{point['codec']:10} {point['setting']!s:>12} {point['payload_bpp']:>11.3f} {point['bpp']:>9.3f}"
              f" {100 * point['accuracy']['resnet8']:>8.2f}%")  # fmt: skip
    ijg = curve_of(report["points"], "ijg", "resnet8")
    print(_j4d_verdict(ijg, curve_of(report["points"], "learned", "resnet8")))
    print("guided: per image, the coarsest IJG quality (2..95) whose decode keeps the classifier's output within")
    print("max-kl nats of its output on the original (the setting column); the sender runs the classifier")
    print(_j4d_verdict(ijg, curve_of(report["points"], "guided", "resnet8"), "guided", "guided files"))
    print(f"grayscale 4:4:4 files, libjpeg-turbo, optimized Huffman; tables: {folder}/ (use with 'jpegdl compress';"
          f" 'jpegdl compress-guided --model {run}' for the guided files)")  # fmt: skip


def _j4d_verdict(ijg: list[tuple[float, float]], learned: list[tuple[float, float]], name: str = "learned",
                 what: str = "learned tables") -> str:  # fmt: skip
    """For each point of ``learned``: the IJG payload needed for the same accuracy (PCHIP), and the verdict."""
    from jpegdl.evaluate.bjontegaard import rate_at_accuracy

    lines, savings = [], []
    for rate, accuracy in sorted(learned):
        needed = rate_at_accuracy(ijg, accuracy)
        if needed is None:
            lines.append(f"  {name} {rate:.3f} bpp at {100 * accuracy:.2f}%: outside the IJG curve's accuracy range")
            continue
        saving = 1 - rate / needed
        savings.append(saving)
        effect = f"{100 * saving:.1f}% fewer bytes" if saving >= 0 else f"{-100 * saving:.1f}% more bytes"
        lines.append(f"  {name} {rate:.3f} bpp at {100 * accuracy:.2f}%: IJG needs {needed:.3f} bpp"
                     f" ({name}: {effect})")  # fmt: skip
    if savings and min(savings) > 0:
        verdict = f"{what} beat IJG at equal accuracy at every {name} point"
    elif savings and max(savings) > 0:
        verdict = f"{what} beat IJG at some accuracies only"
    else:
        verdict = f"{what} do NOT beat IJG at equal accuracy here"
    return "payload at equal accuracy:\n" + "\n".join(lines) + f"\nverdict: {verdict}"


def run_demo(qualities: tuple[int, ...] = (10, 50, 75, 90), train: bool = True) -> None:
    """``jpegdl demo``: the codec against libjpeg-turbo, a short JPEG-DL training, then J4D on its model."""
    run_codec_demo(qualities, photo_names=("astronaut", "chelsea"))
    if train:
        run_training_demo()
        run_j4d_demo()
