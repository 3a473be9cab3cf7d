"""Blindspot unlearning (chapter 06-blindspot).

Tarun et al. (2023). Two steps:

1. **The blindspot model B.** A randomly initialised model, trained for a few epochs on the
   retain set D_r only (reference: 2 epochs, Adam lr 0.01), then frozen. It knows the task
   but has never seen D_f: its answers on D_f are what "not having seen them" looks like.
2. **Unlearning.** A copy M of the original model is trained on all of D. For a batch with
   forget share l_f (the fraction of the batch that lies in D_f), the loss is

   L = (1 - l_f) * L_r + l_f * (L_f + L_attn)

   with L_r = mean |M(x) - y| over the batch's retain samples, L_f = mean |M(x) - B(x)| over
   its forget samples, and the attention-transfer term over the last k blocks

   L_attn = lambda * sum_{j = J-k+1..J} mean((AT(act_j^M) - AT(act_j^B))^2),

   where AT(a) = normalise_2(flatten(mean_c a_c^2)) is the spatial attention map of
   Zagoruyko & Komodakis (2017): the channel mean of squared activations, flattened and
   scaled to unit L2 norm. As in the reference code the distance is the *mean squared*
   difference of the two maps (a scaled squared L2 norm). Reference: lambda = 50, all
   blocks (k = J), 1 epoch, Adam lr 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Profile
from ..data import AgeData, ForgetSet
from ..models import build_model
from .base import (Hyperparameters as _Base, Method, Prerequisite, hyperparameter,
                   non_negative_float, optional, positive_float, positive_int, register,
                   short_recipe)

BLIND_SEED_OFFSET = 7919    # B's seed is the run's seed plus this prime: B and the original
                            # model never start from the same initial weights


@dataclass(frozen=True)
class Hyperparameters(_Base):
    """Blindspot's settings; the defaults are the reference values (k None: all blocks)."""

    method: ClassVar[str] = "blindspot"
    lam: float = hyperparameter(50.0, non_negative_float, "lambda, weight of L_attn")
    k: int = hyperparameter(None, optional(positive_int), "last k blocks in L_attn")
    epochs: int = hyperparameter(1, positive_int, "unlearning epochs over D")
    lr: float = hyperparameter(1e-3, positive_float, "Adam learning rate of the unlearning")
    blind_epochs: int = hyperparameter(2, positive_int, "epochs of the blindspot model B on D_r")
    blind_lr: float = hyperparameter(0.01, positive_float, "Adam learning rate of B")


def attention_map(activation: torch.Tensor) -> torch.Tensor:
    """AT(a): channel mean of squared activations, flattened, L2-normalised per sample."""
    return F.normalize(activation.pow(2).mean(1).flatten(1), dim=1)


def attention_loss(model_acts: Sequence[torch.Tensor], blind_acts: Sequence[torch.Tensor],
                   lam: float, k: Optional[int]) -> torch.Tensor:
    """L_attn = lambda * sum over the last k blocks of mean((AT(act^M) - AT(act^B))^2)."""
    k = len(model_acts) if k is None else k
    total = model_acts[0].new_zeros(())
    for a_m, a_b in zip(model_acts[len(model_acts) - k:], blind_acts[len(blind_acts) - k:]):
        total = total + (attention_map(a_m) - attention_map(a_b)).pow(2).mean()
    return lam * total


def check_blocks(model: nn.Module, k: Optional[int]) -> None:
    """k must not exceed the model's number of blocks (the rest is checked by Hyperparameters)."""
    if k is not None and not 1 <= k <= model.num_blocks:
        raise ValueError(f"blindspot hyperparameter k={k}: expected an integer from 1 to "
                         f"{model.num_blocks} (the model's number of blocks)")


def blindspot_loss(model: nn.Module, blind: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   is_forget: torch.Tensor, lam: float, k: Optional[int]) -> Dict[str, torch.Tensor]:
    """The per-batch loss and its parts: ``loss``, ``L_r``, ``L_f``, ``L_attn``, ``l_f``."""
    out, acts = model.forward_with_activations(x)
    zero = out.new_zeros(())
    retain_mask = ~is_forget
    l_r = F.l1_loss(out[retain_mask], y[retain_mask]) if retain_mask.any() else zero
    if is_forget.any():
        # B (frozen, in eval mode: each sample on its own) only sees the forget samples
        with torch.no_grad():
            blind_out, blind_acts = blind.forward_with_activations(x[is_forget])
        l_f = F.l1_loss(out[is_forget], blind_out)
        l_attn = attention_loss([a[is_forget] for a in acts], blind_acts,
                                lam, k) if lam > 0 else zero
    else:
        l_f, l_attn = zero, zero
    share = is_forget.float().mean()
    loss = (1 - share) * l_r + share * (l_f + l_attn)
    return {"loss": loss, "L_r": l_r, "L_f": l_f, "L_attn": l_attn, "l_f": share}


def train_blindspot_model(data: AgeData, forget_set: ForgetSet, profile: Profile, seed: int = 0,
                          device=None, epochs=None, lr=None, progress: bool = True) -> nn.Module:
    """Step 1: B, a fresh model trained briefly on D_r only, returned frozen in eval mode."""
    from ..training import fit

    hp = Hyperparameters.from_profile(profile, blind_epochs=epochs, blind_lr=lr)
    blind = build_model(profile.model.architecture, profile.model.width,
                        seed=seed + BLIND_SEED_OFFSET)
    fit(blind, data, forget_set.retain, short_recipe(profile, hp.blind_epochs, hp.blind_lr),
        seed=seed + BLIND_SEED_OFFSET, device=device, init_output=True,
        desc="blindspot model B on D_r", progress=progress)
    return freeze(blind)


def freeze(blind: nn.Module) -> nn.Module:
    """B is a fixed teacher: evaluation mode, no gradients."""
    blind.eval()
    for p in blind.parameters():
        p.requires_grad_(False)
    return blind


@register
class Blindspot(Method):
    """A copy of A(D) trained on D with the Blindspot loss against the frozen model B: the
    loss and the prerequisite B are what differ."""

    name = "blindspot"
    label = "Blindspot"
    color = "#d62728"
    trains_on = "forget_and_retain"
    Hyperparameters = Hyperparameters

    def prerequisites(self) -> List[Prerequisite]:
        """B, trained once per (data, forget set, seed, B's settings)."""
        hp = self.hp

        def train(data, forget_set, profile, seed, device, progress):
            return train_blindspot_model(data, forget_set, profile, seed, device,
                                         epochs=hp.blind_epochs, lr=hp.blind_lr,
                                         progress=progress)

        def images(profile, n_forget, n_retain):
            return hp.blind_epochs * n_retain      # B's extra forward pass on D_f is not counted

        return [Prerequisite(argument="blind", role="blindspot-model",
                             settings={"epochs": hp.blind_epochs, "lr": hp.blind_lr},
                             train=train, images=images, prepare=freeze)]

    def train(self, original, data, split, forget_set, profile, seed, device=None,
              progress=True, **needed):
        """Refuse a k larger than the model's number of blocks, then the common path."""
        check_blocks(original, self.hp.k)
        return super().train(original, data, split, forget_set, profile, seed, device=device,
                             progress=progress, **needed)

    def loss(self, data, forget_set, blind: nn.Module, log: Optional[list] = None):
        """The loss of the module doc against ``blind``; ``log`` (a list) receives the loss
        parts of every batch."""
        lam, k = self.hp.lam, self.hp.k
        is_forget = forget_set.mask(len(data))

        def loss_fn(model, x, y, batch_idx):
            flags = torch.from_numpy(is_forget[batch_idx]).to(x.device)
            blind.to(x.device)
            parts = blindspot_loss(model, blind, x, y, flags, lam, k)
            if log is not None:
                log.append({name: float(v.detach()) for name, v in parts.items()})
            return parts["loss"]

        return loss_fn
