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


def test_raw_similarity_on_a_standardised_batch_is_the_raw_features_similarity():
    from model.features import FeatureStats

    g = torch.Generator().manual_seed(1)
    raw = torch.randn(8, 1, 39, 200, generator=g)
    raw[:, :, 0, :] += 100.0  # raw MFCCs: C0 dominates, every pair passes
    stats = FeatureStats(tuple(raw.mean(dim=(0, 1, 3)).tolist()), tuple(raw.std(dim=(0, 1, 3)).tolist()))
    z = stats.apply(raw)
    torch.testing.assert_close(stats.invert(z), raw, rtol=1e-5, atol=1e-4)
    assert candidate_mask(z, 0.7).sum() == 0  # similarity taken on the standardised values
    assert torch.equal(candidate_mask(z, 0.7, unstandardize=stats.invert), candidate_mask(raw, 0.7))
    # standardized similarity ignores the map: it standardises the batch itself
    assert torch.equal(candidate_mask(z, 0.7, similarity="standardized", unstandardize=stats.invert),
                       candidate_mask(z, 0.7, similarity="standardized"))
    cfg = AAMConfig()
    _, _, rate = aam_batch(create_model("macnn", 4), z, torch.arange(8) % 4, 4, cfg, np.random.default_rng(0),
                           unstandardize=stats.invert)
    assert rate == 1.0


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


def _aam_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Rows 0-2 share one direction (pairwise cosine ~0.99, above T = 0.7); rows 3-5 are
    independent noise (cosine ~0 with every row): half the batch finds partners."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 1, 39, 200, generator=g)
    near = base + 0.1 * torch.randn(3, 1, 39, 200, generator=g)
    far = torch.randn(3, 1, 39, 200, generator=g)
    return torch.cat([near, far]), torch.tensor([0, 1, 2, 3, 0, 1])


def _expected_aam(net, x, y, cfg, seed):
    """AAM by hand in numpy: the same generator draws, then the formulas of the paper."""
    rng = np.random.default_rng(seed)
    b = x.shape[0]
    if cfg.pairing == "random":
        partner = (np.arange(b) + rng.integers(1, b, size=b)) % b
        has = np.ones(b, dtype=bool)
    else:
        if cfg.similarity == "raw":
            flat = x.reshape(b, -1).double().numpy()
            unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
            mask = unit @ unit.T > cfg.threshold
            np.fill_diagonal(mask, False)
        else:
            mask = candidate_mask(x, cfg.threshold, similarity="standardized").numpy()
        scores = np.where(mask, rng.random((b, b)), -1.0)  # uniform among the candidates
        partner, has = scores.argmax(axis=1), mask.any(axis=1)
    if cfg.weighting == "difficulty":
        net.eval()
        with torch.no_grad():
            logp = torch.log_softmax(net(x).double(), dim=1).numpy()
        net.train()
        d = -logp[np.arange(b), y.numpy()]  # per-sample cross-entropy
        lam = 1.0 / (1.0 + np.exp(cfg.alpha * (d - d[partner])))
    elif cfg.weighting == "beta":
        lam = rng.beta(cfg.beta_alpha, cfg.beta_alpha, size=b)
    else:
        lam = np.full(b, 0.5)
    rows = np.flatnonzero(has)
    j, lam = partner[rows], lam[rows]
    xs = x.double().numpy()
    onehot = np.eye(4)[y.numpy()]
    x_mix = lam[:, None, None, None] * xs[rows] + (1 - lam[:, None, None, None]) * xs[j]
    y_mix = lam[:, None] * onehot[rows] + (1 - lam[:, None]) * onehot[j]
    return x_mix, y_mix, has.mean(), j, mask if cfg.pairing != "random" else None


@pytest.mark.parametrize("cfg", [AAMConfig(), AAMConfig(weighting="beta"), AAMConfig(weighting="half"),
                                 AAMConfig(pairing="random"), AAMConfig(similarity="standardized", threshold=0.0)])
def test_aam_batch_outputs(cfg):
    torch.manual_seed(0)
    net = create_model("macnn", 4).train()
    x, y = _aam_inputs()
    xm, ym, rate = aam_batch(net, x, y, 4, cfg, np.random.default_rng(0))
    assert net.training
    x_mix, y_mix, expected_rate, partners, mask = _expected_aam(net, x, y, cfg, 0)
    if cfg.pairing == "similarity" and cfg.similarity == "raw":
        # rows 0-2 pass the threshold (with each other), rows 3-5 do not: three mixed rows
        assert mask[:3].sum(axis=1).tolist() == [2, 2, 2] and not mask[3:].any()
        assert len(x_mix) == 3 and set(partners.tolist()) <= {0, 1, 2}
    assert len(x_mix) > 0
    assert rate == pytest.approx(expected_rate)
    assert xm.shape == (len(x_mix), 1, 39, 200) and ym.shape == (len(x_mix), 4)
    np.testing.assert_allclose(ym.double().numpy(), y_mix, rtol=0, atol=1e-6)
    np.testing.assert_allclose(xm.double().numpy(), x_mix, rtol=0, atol=1e-5)
    lam = ym.max(dim=1).values  # the labels of a pair differ here: max is lambda or 1 - lambda
    if cfg.weighting == "half":
        assert torch.all(lam == 0.5)
    else:
        assert len(set(np.round(lam.tolist(), 6))) > 1  # lambda varies with the pair


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
