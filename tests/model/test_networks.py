import pytest
import torch

from model import ATTENTION_KINDS, MACNN, ModelError, count_macs, count_parameters, create_model, list_models
from model.attention import ICASA, ShuffleAttention, build_attention
from model.attention.eca import eca_kernel_size
from model.attention.sa import channel_shuffle

X = torch.randn(3, 1, 39, 200, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list_models("macnn"))
def test_every_model_shape_finite_and_all_parameters_get_gradients(name):
    torch.manual_seed(0)
    net = create_model(name, 5)
    out = net(X)
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


def test_registry_covers_every_attention_kind():
    kinds = {create_model(n, 4).config.attention for n in list_models("macnn")}
    assert kinds == set(ATTENTION_KINDS)
    assert {"macnn", "macnn_icasa", "macnn_sa", "macnn_ica", "macnn_ca", "macnn_se", "macnn_eca",
            "macnn_cbam"} <= set(list_models())


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
@pytest.mark.parametrize("channels, h, w", [(32, 38, 199), (48, 19, 99), (80, 9, 49)])
def test_attention_blocks_preserve_shape(kind, channels, h, w):
    x = torch.randn(2, channels, h, w, requires_grad=True)
    block = build_attention(kind, channels)
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_macnn_baseline_size_matches_spec():
    net = create_model("macnn", 4)
    assert abs(count_parameters(net) - 156_000) <= 1_560  # spec: about 0.156 M for 4 x 64 heads
    # Conv + 1x1 attention convs + classifier for a (1, 1, 39, 200) input, counted by hand.
    conv = (8 * 38 * 199 * 20 + 8 * 38 * 199 * 16 + 32 * 38 * 199 * 144 + 48 * 19 * 99 * 288
            + 64 * 9 * 49 * 432 + 80 * 9 * 49 * 576)
    heads = 12 * 64 * 80 * 9 * 49
    assert count_macs(net) == conv + heads + 64 * 4


def test_attention_adds_few_parameters():
    base = count_parameters(create_model("macnn", 8))
    for name in list_models("macnn"):
        assert 0 <= count_parameters(create_model(name, 8)) - base < 15_000


def test_icasa_beta_and_sa_initialisation():
    net = create_model("macnn_icasa", 4)
    assert net.betas() == {f"beta_att{i}": 0.5 for i in (2, 3, 4, 5)}
    assert all(isinstance(getattr(net, f"att{i}"), ICASA) for i in (2, 3, 4, 5))
    sa = ShuffleAttention(32, groups=4)
    assert sa.cweight.shape == (1, 4, 1, 1)
    assert sa.cweight.abs().sum() == 0 and sa.sweight.abs().sum() == 0
    assert (sa.cbias == 1).all() and (sa.sbias == 1).all()


def test_icasa_is_beta_blend_of_ica_and_sa():
    block = ICASA(48).eval()
    x = torch.randn(2, 48, 9, 49)
    with torch.no_grad():
        block.beta.fill_(0.3)
        expected = 0.3 * block.ica(x) + 0.7 * block.sa(x)
        torch.testing.assert_close(block(x), expected)


def test_channel_shuffle_interleaves():
    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_eca_kernel_sizes_are_odd():
    assert [eca_kernel_size(c) for c in (32, 48, 64, 80, 256)] == [3, 3, 3, 3, 5]


def test_fusion_option_changes_head():
    plain, fused = create_model("macnn", 4), create_model("macnn_fusion", 4)
    assert plain.fc.in_features == 64 and fused.fc.in_features == 80
    assert create_model("macnn_icasa", 4, fusion=True).config.fusion
    assert isinstance(fused, MACNN)


def test_bad_names_and_overrides():
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        create_model("nope", 4)
    with pytest.raises(ModelError, match="attention='xyz'"):
        create_model("macnn", 4, attention="xyz")
    with pytest.raises(ModelError, match="unknown key"):
        create_model("macnn", 4, heads=3)
    with pytest.raises(ModelError, match="num_classes"):
        create_model("macnn", 1)
    with pytest.raises(ValueError, match="divisible"):
        ShuffleAttention(36, groups=4)


def _bits(t):
    return t.contiguous().view(torch.int32)


@pytest.mark.parametrize("shape", [(4, 32, 38, 199), (3, 48, 19, 99), (2, 3, 2, 2), (2, 5, 7, 4)])
def test_the_no_grad_max_pool_is_bit_identical_to_torchs(shape):
    from model.macnn import MaxPool2x2

    g = torch.Generator().manual_seed(3)
    x = torch.relu(torch.randn(*shape, generator=g))  # ReLU: many tied zeros
    x[0, 0, :2, :2] = float("nan")
    x[1, 2, :2, :2] = -0.5  # a window of equal negative values
    h, w = shape[-2] // 2 * 2, shape[-1] // 2 * 2  # an odd last row or column is dropped
    x[-1, -1, h - 2:h, w - 2:w] = torch.tensor([[1.0, float("nan")], [2.0, 3.0]])  # NaN after the first
    x[-1, 0, :2, :2] = torch.tensor([[0.0, float("inf")], [1.0, 1.0]])
    x[-1, 0, 0, 0] *= x[-1, 0, 0, 1]  # 0 * inf: the negative NaN x86 arithmetic makes
    pool = MaxPool2x2()
    with torch.no_grad():
        fast = pool(x)
    ref = torch.nn.functional.max_pool2d(x, 2)
    assert fast.is_contiguous() and fast.shape == ref.shape
    nan = torch.isnan(ref)
    assert torch.equal(nan, torch.isnan(fast)) and nan[0, 0, 0, 0] and nan[-1, -1, -1, -1] and nan[-1, 0, 0, 0]
    assert torch.equal(_bits(fast)[~nan], _bits(ref)[~nan])  # every other value bit for bit
    y = x.clone().requires_grad_()
    pool(y).sum().backward()  # with autograd the plain kernel runs and trains
    assert torch.equal(y.grad, torch.autograd.grad(torch.nn.functional.max_pool2d(y, 2).sum(), y)[0])


def test_the_no_grad_max_pool_gives_a_zero_where_signed_zeros_tie():
    """Where +0 and -0 tie in one window either zero may come out, but a zero."""
    from model.macnn import MaxPool2x2

    x = torch.zeros(1, 1, 4, 4)
    x[..., 0::2, :] = -0.0
    with torch.no_grad():
        fast = MaxPool2x2()(x)
    assert fast.shape == (1, 1, 2, 2) and bool((fast.abs() == 0).all())
    assert torch.equal(fast, torch.nn.functional.max_pool2d(x, 2))  # +0 == -0 as numbers


def test_the_no_grad_max_pool_keeps_atens_rule_when_its_settings_change():
    from model.macnn import MaxPool2x2

    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    pool = MaxPool2x2()
    pool.stride, pool.ceil_mode = 1, True
    with torch.no_grad():
        assert torch.equal(pool(x), torch.nn.functional.max_pool2d(x, 2, stride=1, ceil_mode=True))


def test_prediction_does_not_depend_on_which_pool_kernel_ran():
    from model import create_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = create_model("macnn_icasa", 8).eval()
        x = torch.randn(8, 1, 39, 200)
    with torch.no_grad():
        fast = net(x)
        net.pool = torch.nn.MaxPool2d(2)
        plain = net(x)
    assert torch.equal(_bits(fast), _bits(plain))
