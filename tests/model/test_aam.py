import math

import numpy as np
import pytest
import torch

from model import AAMConfig, ModelError, aam_batch, create_model, mixup
from model.aam import aam_lambda, candidate_mask, choose_partners, difficulty, mix_pairs, random_partners


def test_lambda_formula_and_sign():
    d_i, d_j = torch.tensor([0.2, 2.0, 1.0]), torch.tensor([1.5, 0.1, 1.0])
    lam = aam_lambda(d_i, d_j, alpha=2.0)
    expected = [1 / (1 + math.exp(2.0 * (a - b))) for a, b in zip(d_i.tolist(), d_j.tolist())]
    torch.testing.assert_close(lam, torch.tensor(expected))
    assert lam[0] > 0.5  # sample i easier (lower loss) -> it dominates the mix
    assert lam[1] < 0.5
    assert lam[2] == 0.5


def test_candidate_mask_threshold_and_diagonal():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([0.9, 0.1, 0.0])  # cos(a, b) ~ 0.994
    c = torch.tensor([0.0, 1.0, 0.0])  # orthogonal to a
    x = torch.stack([a, b, c])[:, None, :, None]  # (3, 1, 3, 1)
    mask = candidate_mask(x, 0.7)
    assert mask.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    assert not candidate_mask(x, 0.999).any()


def test_standardized_similarity_removes_c0_dominance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1, 39, 200, generator=g)
    x[:, :, 0, :] += 100.0  # a big shared C0 makes every raw pair similar
    assert candidate_mask(x, 0.7).sum() == 8 * 7
    assert candidate_mask(x, 0.7, similarity="standardized").sum() == 0


def test_partners_are_uniform_candidates_and_none_without_candidates():
    mask = torch.tensor([[False, True, True, False], [True, False, False, False],
                         [False, False, False, False], [False, False, True, False]])
    rng = np.random.default_rng(0)
    counts = {1: 0, 2: 0}
    for _ in range(400):
        partner, has = choose_partners(mask, rng)
        assert has.tolist() == [True, True, False, True]
        assert partner[1] == 0 and partner[3] == 2
        counts[int(partner[0])] += 1
    assert 140 < counts[1] < 260  # both candidates of row 0 are drawn, about equally


def test_mix_pairs_soft_labels_and_no_candidate_rows():
    x = torch.arange(4.0)[:, None].repeat(1, 5)  # (4, 5), row i all equal to i
    y = torch.eye(3)[[0, 1, 2, 0]]
    partner = torch.tensor([1, 0, 0, 2])
    has = torch.tensor([True, False, False, True])
    lam = torch.tensor([0.75, 0.5, 0.5, 0.25])
    xm, ym = mix_pairs(x, y, partner, has, lam)
    assert xm.shape == (2, 5) and ym.shape == (2, 3)
    torch.testing.assert_close(xm[:, 0], torch.tensor([0.75 * 0 + 0.25 * 1, 0.25 * 3 + 0.75 * 2]))
    torch.testing.assert_close(ym, torch.tensor([[0.75, 0.25, 0.0], [0.25, 0.0, 0.75]]))
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(2))


def test_random_partners_never_self():
    partner, has = random_partners(16, np.random.default_rng(1))
    assert has.all() and (partner != torch.arange(16)).all()
    _, has1 = random_partners(1, np.random.default_rng(1))
    assert not has1.any()


def test_difficulty_is_eval_mode_cross_entropy_and_restores_mode():
    net = create_model("macnn", 3).train()
    x = torch.randn(4, 1, 39, 200)
    y = torch.tensor([0, 1, 2, 0])
    d = difficulty(net, x, y)
    assert net.training
    with torch.no_grad():
        net.eval()
        expected = torch.nn.functional.cross_entropy(net(x), y, reduction="none")
    torch.testing.assert_close(d, expected)


@pytest.mark.parametrize("cfg", [AAMConfig(), AAMConfig(weighting="beta"), AAMConfig(weighting="half"),
                                 AAMConfig(pairing="random"), AAMConfig(similarity="standardized", threshold=0.0)])
def test_aam_batch_outputs(cfg):
    torch.manual_seed(0)
    net = create_model("macnn", 4)
    x = torch.randn(6, 1, 39, 200)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    xm, ym, rate = aam_batch(net, x, y, 4, cfg, np.random.default_rng(0))
    assert xm.shape[1:] == x.shape[1:] and ym.shape == (xm.shape[0], 4)
    assert xm.shape[0] == round(rate * 6)
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(xm.shape[0]))
    if cfg.weighting == "half" and xm.shape[0]:
        assert set(ym.max(dim=1).values.tolist()) <= {0.5, 1.0}


def test_aam_no_candidates_adds_nothing():
    net = create_model("macnn", 2)
    x = torch.randn(4, 1, 39, 200)
    xm, ym, rate = aam_batch(net, x, torch.tensor([0, 1, 0, 1]), 2, AAMConfig(threshold=1.0), np.random.default_rng(0))
    assert xm.shape == (0, 1, 39, 200) and ym.shape == (0, 2) and rate == 0.0


def test_aam_config_validation():
    with pytest.raises(ModelError, match="weighting='x'"):
        AAMConfig(weighting="x")
    with pytest.raises(ModelError, match="threshold=2"):
        AAMConfig(threshold=2)


def test_mixup_convex_and_seeded():
    x = torch.randn(5, 1, 39, 200)
    y = torch.eye(5)
    xa, ya = mixup(x, y, 0.4, np.random.default_rng(3))
    xb, yb = mixup(x, y, 0.4, np.random.default_rng(3))
    torch.testing.assert_close(xa, xb)
    torch.testing.assert_close(ya.sum(dim=1), torch.ones(5))
    lam = ya.max(dim=1).values
    assert ((lam >= 0.5) & (lam <= 1)).all()
    with pytest.raises(ValueError, match="alpha"):
        mixup(x, y, 0.0, np.random.default_rng(0))
