import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from jpegdl.checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from jpegdl.runs import RunFolder, load_classifier


class _RunsCode:
    """A pickle that would create a file when unpickled (what a malicious checkpoint does)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_everywhere(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"config": {}, "model": _RunsCode(str(marker))}, run / "last.pt")
    with pytest.raises(ValueError, match=r"refused .* holds more than weights"):
        load_checkpoint(run / "last.pt")
    with pytest.raises(ValueError, match="model: refused"):
        load_classifier(run)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoints_give_one_line_errors(tmp_path, damage):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "weights": torch.arange(1000.0)}, path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage])
    with pytest.raises(ValueError, match="not a readable checkpoint") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    import random

    import numpy as np

    state = rng_state()
    save_checkpoint({"rng": state}, tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_a_failing_write_leaves_the_previous_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def full_disk(payload, file):
        file.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_kill_during_checkpoint_writes_never_leaves_a_broken_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": -1, "weights": torch.zeros(10)}, path)
    writer = textwrap.dedent(f"""
        import torch
        from jpegdl.runs import save_checkpoint
        print("ready", flush=True)
        epoch = 0
        while True:
            save_checkpoint({{"epoch": epoch, "weights": torch.full((2_000_000,), float(epoch))}}, {str(path)!r})
            epoch += 1
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    import time

    time.sleep(1.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = load_checkpoint(path)  # the old or a complete new checkpoint, never a torn one
    assert torch.all(state["weights"] == float(max(state["epoch"], 0)) if state["epoch"] >= 0 else True)
    folder = RunFolder(tmp_path)
    folder.remove_stale_temporaries()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
