"""AAM, adaptive acoustic mixup (training only), vectorised over a mini-batch.

For a batch ``x: (B, 1, 39, 200)``: cosine similarity between flattened samples picks
candidate partners (``S > T``, diagonal excluded); each row with a candidate mixes with one
partner drawn uniformly among them, with ``lambda = 1 / (1 + exp(alpha * (d_i - d_j)))``
from per-sample difficulties (cross-entropy under the current model), so the easier sample
dominates. Rows without a candidate add no mixed sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from model.errors import ModelError

__all__ = [
    "AAMConfig",
    "candidate_mask",
    "choose_partners",
    "random_partners",
    "aam_lambda",
    "mix_pairs",
    "difficulty",
    "aam_batch",
]

_SIMILARITIES = ("raw", "standardized")
_WEIGHTINGS = ("difficulty", "beta", "half")
_PAIRINGS = ("similarity", "random")


@dataclass(frozen=True)
class AAMConfig:
    """AAM settings and its ablations.

    threshold : T, cosine similarity a partner must exceed.
    alpha : slope of the difficulty weighting.
    similarity : ``raw`` MFCCs (dominated by C0, so most pairs pass) or ``standardized``
        (each coefficient standardised over the batch before the cosine).
    weighting : ``difficulty`` (AAM), ``beta`` (lambda ~ Beta(beta_alpha, beta_alpha)) or
        ``half`` (lambda = 0.5): the "no difficulty weighting" ablations.
    pairing : ``similarity`` (AAM) or ``random`` (any other row, no similarity test).
    """

    threshold: float = 0.7
    alpha: float = 2.0
    similarity: str = "raw"
    weighting: str = "difficulty"
    pairing: str = "similarity"
    beta_alpha: float = 0.4

    def __post_init__(self) -> None:
        for name, allowed in (("similarity", _SIMILARITIES), ("weighting", _WEIGHTINGS), ("pairing", _PAIRINGS)):
            if getattr(self, name) not in allowed:
                raise ModelError(f"AAM {name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        if not -1.0 <= self.threshold <= 1.0:
            raise ModelError(f"AAM threshold={self.threshold}: must lie in [-1, 1]")
        if self.beta_alpha <= 0:
            raise ModelError(f"AAM beta_alpha={self.beta_alpha}: must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)


def candidate_mask(x: torch.Tensor, threshold: float, *, similarity: str = "raw",
                   unstandardize=None) -> torch.Tensor:
    """``x: (B, ...)`` -> bool ``(B, B)``: cosine similarity ``> threshold``, diagonal False.

    unstandardize : for ``raw`` on inputs the trainer standardised (``--standardize``, IFN), the
        map back to the raw features (``FeatureStats.invert``), so that "raw" means raw MFCCs
        whatever the network reads; without it a standardised batch has near-zero similarities
        and no pair passes.
    """
    if similarity == "raw" and unstandardize is not None:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = unstandardize(x.float())
    if similarity == "standardized":
        # Per-coefficient standardisation over batch and time: C0 no longer dominates.
        dims = [d for d in range(x.dim()) if d != x.dim() - 2]
        x = (x - x.mean(dim=dims, keepdim=True)) / x.std(dim=dims, keepdim=True).clamp_min(1e-8)
    with torch.autocast(device_type=x.device.type, enabled=False):  # similarity in float32
        flat = nn.functional.normalize(x.reshape(x.shape[0], -1).float(), dim=1)  # (B, D)
        sim = flat @ flat.T  # (B, B)
    mask = sim > threshold
    mask.fill_diagonal_(False)
    return mask


def choose_partners(mask: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One partner per row, uniform among its candidates.

    ``mask: (B, B)`` bool -> ``partner: (B,)`` long (meaningless where ``has`` is False) and
    ``has: (B,)`` bool. Uniform choice = argmax of i.i.d. uniform scores over the candidates.
    """
    scores = torch.from_numpy(rng.random(mask.shape)).to(mask.device)
    scores = scores.masked_fill(~mask, -1.0)
    return scores.argmax(dim=1), mask.any(dim=1)


def random_partners(batch_size: int, rng: np.random.Generator, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random-pair ablation: each row gets a uniformly drawn other row (none when B = 1)."""
    if batch_size < 2:
        none = torch.zeros(batch_size, dtype=torch.long, device=device)
        return none, none.bool()
    offset = torch.from_numpy(rng.integers(1, batch_size, size=batch_size)).to(device)
    partner = (torch.arange(batch_size, device=device) + offset) % batch_size  # never i itself
    return partner, torch.ones(batch_size, dtype=torch.bool, device=device)


def aam_lambda(d_i: torch.Tensor, d_j: torch.Tensor, alpha: float) -> torch.Tensor:
    """``1 / (1 + exp(alpha * (d_i - d_j)))``: > 0.5 when sample i is the easier one."""
    return torch.sigmoid(-alpha * (d_i - d_j))


def mix_pairs(
    x: torch.Tensor, y: torch.Tensor, partner: torch.Tensor, has: torch.Tensor, lam: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixed samples for rows with a partner.

    ``x: (B, ...)``, ``y: (B, K)`` soft labels, ``partner, has, lam: (B,)`` ->
    ``x_mix: (M, ...)``, ``y_mix: (M, K)`` with M = ``has.sum()``.
    """
    idx = has.nonzero(as_tuple=True)[0]
    j = partner[idx]
    lam = lam[idx].to(x.dtype)
    lx = lam.reshape(-1, *([1] * (x.dim() - 1)))
    x_mix = lx * x[idx] + (1 - lx) * x[j]
    y_mix = lam[:, None] * y[idx] + (1 - lam[:, None]) * y[j]
    return x_mix, y_mix


@torch.no_grad()
def difficulty(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy ``(B,)`` of ``x: (B, 1, 39, 200)``, ``y: (B,)`` class indices,
    under the current model in eval mode (BatchNorm running stats); the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        return nn.functional.cross_entropy(model(x).float(), y, reduction="none")
    finally:
        model.train(was_training)


def aam_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    config: AAMConfig,
    rng: np.random.Generator,
    unstandardize=None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The AAM samples for one batch.

    ``x: (B, 1, 39, 200)``, ``y: (B,)`` long -> ``x_mix: (M, 1, 39, 200)``, ``y_mix: (M, K)``
    soft labels, and the pass rate (fraction of rows that found a partner). ``unstandardize``:
    see ``candidate_mask`` (the mixing itself acts on ``x`` as given).
    """
    b = x.shape[0]
    if config.pairing == "random":
        partner, has = random_partners(b, rng, x.device)
    else:
        partner, has = choose_partners(candidate_mask(x, config.threshold, similarity=config.similarity,
                                                        unstandardize=unstandardize), rng)
    if config.weighting == "difficulty":
        d = difficulty(model, x, y)
        lam = aam_lambda(d, d[partner], config.alpha)
    elif config.weighting == "beta":
        lam = torch.from_numpy(rng.beta(config.beta_alpha, config.beta_alpha, size=b)).float().to(x.device)
    else:
        lam = torch.full((b,), 0.5, device=x.device)
    onehot = nn.functional.one_hot(y, num_classes).to(x.dtype)
    x_mix, y_mix = mix_pairs(x, onehot, partner, has, lam)
    return x_mix, y_mix, float(has.float().mean()) if b else 0.0
