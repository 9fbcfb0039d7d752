from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from jpegdl.robust import AttackSettings, craft, fgsm, parse_epsilons, pgd, robust_accuracy
from jpegdl.robust.attacks import settings_for


def accuracy(model, images, labels) -> float:
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def test_the_tiny_model_is_accurate(tiny_model, test_batch):
    assert accuracy(tiny_model, *test_batch) > 0.95


def test_torchattacks_fgsm_matches_our_few_lines(tiny_model, test_batch):
    images, labels = test_batch
    ours = fgsm(tiny_model, images, labels, 4 / 255)
    library = craft(tiny_model, images, labels, AttackSettings("fgsm", 4 / 255, backend="torchattacks"))
    assert torch.allclose(ours, library, atol=1e-6)
    assert (ours - images).abs().max() <= 4 / 255 + 1e-6


def test_torchattacks_pgd_matches_ours_without_random_start(tiny_model, test_batch):
    images, labels = test_batch
    ours = pgd(tiny_model, images, labels, 8 / 255, steps=5, random_start=False)
    library = craft(tiny_model, images, labels, AttackSettings("pgd", 8 / 255, 5, random_start=False))
    assert torch.allclose(ours, library, atol=1e-5)


@pytest.mark.parametrize("backend", ["torchattacks", "native"])
@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_attacks_lower_accuracy_and_robust_accuracy_never_exceeds_clean(tiny_model, test_batch, name, backend):
    result = robust_accuracy(tiny_model, TensorDataset(*test_batch), settings_for(name, [0.0, 0.05, 0.15],
                             backend=backend), batch_size=100, progress=False)  # fmt: skip
    clean = accuracy(tiny_model, *test_batch)
    assert result["clean"] == pytest.approx(clean) and result["images"] == 256
    robust = [p["robust"] for p in result["points"]]
    assert all(r <= result["clean"] for r in robust)
    assert robust[0] == pytest.approx(clean)  # eps 0: nothing changes
    assert robust[2] < clean - 0.3
    assert all(p["robust"] <= p["adversarial"] for p in result["points"])


@pytest.mark.parametrize("backend", ["torchattacks", "native"])
@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_epsilon_zero_leaves_images_and_predictions_unchanged(tiny_model, test_batch, name, backend):
    images, labels = test_batch
    attacked = craft(tiny_model, images, labels, AttackSettings(name, 0.0, backend=backend))
    assert torch.equal(attacked, images)


def test_pgd_is_reproducible_for_a_seed(tiny_model, test_batch):
    images, labels = test_batch
    attack = AttackSettings("pgd", 8 / 255, steps=1, step_size=1 / 255)  # the random start still shows
    first, again = (craft(tiny_model, images, labels, attack, seed=3) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, craft(tiny_model, images, labels, attack, seed=4))


@settings(max_examples=15, deadline=None)
@given(eps=st.floats(0, 0.5), steps=st.integers(1, 4), size=st.integers(4, 12), seed=st.integers(0, 100))
def test_pgd_stays_in_the_ball_and_in_the_pixel_range(tiny_model, eps, steps, size, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(3, 1, size, size, generator=generator)
    labels = torch.randint(0, 2, (3,), generator=generator)
    attacked = pgd(tiny_model, images, labels, eps, steps, generator=generator)
    assert attacked.shape == images.shape and torch.isfinite(attacked).all()
    assert (attacked - images).abs().max() <= eps + 1e-6
    assert attacked.min() >= 0 and attacked.max() <= 1


@pytest.mark.parametrize("eps", [-0.01, 1.5, math.nan, math.inf, "abc"])
def test_bad_epsilons_are_rejected(tiny_model, test_batch, eps):
    with pytest.raises(ValueError, match=r"eps: expected a number in \[0, 1\]"):
        AttackSettings("fgsm", eps)
    with pytest.raises(ValueError, match="eps"):
        fgsm(tiny_model, *test_batch, eps)


def test_epsilon_lists_parse_fractions_and_reject_bad_items():
    assert parse_epsilons("2/255, 1/255,0,0.5,1/255") == [0.0, 1 / 255, 2 / 255, 0.5]
    for text, message in [("1/0", "fractions"), ("4/255,-1", r"\[0, 1\]"), ("2", r"\[0, 1\]"), (" , ", "at least")]:
        with pytest.raises(ValueError, match=message):
            parse_epsilons(text)


@pytest.mark.parametrize(
    "options, message",
    [({"name": "cw"}, "attack"), ({"backend": "foolbox"}, "backend"), ({"steps": 0}, "steps"),
     ({"step_size": -1.0}, "step_size")],
)  # fmt: skip
def test_bad_attack_settings_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        AttackSettings(**({"name": "pgd", "eps": 0.1} | options))
