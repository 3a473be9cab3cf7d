"""Fine-tuning, a baseline (chapter 08-results).

Continue training the original model M on the retain set only, for a few epochs at a small
learning rate: minimise L_r = (1/|D_r|) sum_{(x,y) in D_r} |M(x) - y|. Forgetting happens only
through catastrophic forgetting of D_f. Reference: 5 epochs, Adam lr 1e-3.
"""
from __future__ import annotations

import copy

from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..training import fit
from .retrain import crop_padding, with_defaults


def defaults(profile: Profile) -> dict:
    """The hyperparameters ``unlearn`` uses when they are not given."""
    return {"epochs": profile.finetune_epochs, "lr": profile.finetune_lr}


def training_images(profile: Profile, n_forget: int, n_retain: int) -> int:
    """Images passed through a training step at the default epochs: epochs over D_r."""
    return defaults(profile)["epochs"] * n_retain


def unlearn(original: nn.Module, data: AgeData, forget: ForgetSet, profile: Profile, seed: int = 0,
            device=None, progress: bool = True, epochs=None, lr=None) -> nn.Module:
    """A copy of ``original`` trained on D_r for ``epochs`` at ``lr`` (profile defaults)."""
    hp = with_defaults(defaults(profile), epochs=epochs, lr=lr)
    model = copy.deepcopy(original)
    fit(model, data, forget.retain, epochs=hp["epochs"], lr=hp["lr"], batch_size=profile.batch_size, seed=seed, device=device,
        crop_padding=crop_padding(profile), desc="fine-tuning on D_r", progress=progress)
    return model
