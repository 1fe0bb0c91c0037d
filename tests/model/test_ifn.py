import pytest
import torch

from model import ModelError, count_parameters, create_model, list_models
from model.ifn import IFN, DualAttention, IFNConfig, RefinementBlock
from model.registry import build_network, family_of, input_shape, model_family

IFN_VARIANTS = ["ifn", "ifn_add", "ifn_mfcc", "ifn_noref", "ifn_ssl"]


def test_registry_lists_the_ifn_variants_apart_from_macnn():
    assert list_models("ifn") == IFN_VARIANTS
    assert set(IFN_VARIANTS) <= set(list_models())
    assert not set(IFN_VARIANTS) & set(list_models("macnn"))
    assert {model_family(n) for n in IFN_VARIANTS} == {"ifn"}


@pytest.mark.parametrize("name", IFN_VARIANTS)
def test_variant_forward_backward_and_size(name):
    torch.manual_seed(0)
    net = create_model(name, 5)
    shape = (3, *input_shape(net.config)[1:])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    out = net(x)
    assert out.shape == (3, 5) and torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad
    assert count_parameters(create_model(name, 8)) <= 500_000  # ifn-spec size target


def test_variants_differ_where_the_ablation_says():
    ifn, add, mfcc, noref, ssl = (create_model(n, 4).config for n in IFN_VARIANTS)
    assert ifn.streams == ("mfcc", "spectral", "prosodic") and ifn.stream_dims == (39, 69, 6)
    assert ifn.fusion == "multiplicative" and ifn.refine_blocks == 2
    assert mfcc.streams == ("mfcc",) and mfcc.n_features == 39
    assert noref.refine_blocks == 0 and not any(isinstance(m, RefinementBlock) for m in create_model("ifn_noref", 4).modules())
    assert add.fusion == "additive" and not hasattr(create_model("ifn_add", 4), "interact")
    assert ssl.streams[-1] == "ssl" and ssl.n_features == 39 + 69 + 6 + 768


def test_segments_are_independent_in_eval_mode():
    net = create_model("ifn", 4).eval()
    x = torch.randn(4, 1, 114, 200, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        batched = net(x)
        for i in range(4):
            torch.testing.assert_close(net(x[i : i + 1])[0], batched[i], rtol=1e-5, atol=1e-5)


def test_each_stream_reaches_the_output():
    net = create_model("ifn", 4).eval()
    x = torch.randn(2, 1, 114, 200, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = net(x)
        for lo, hi in ((0, 39), (39, 108), (108, 114)):
            y = x.clone()
            y[:, :, lo:hi] += 1.0
            assert (net(y) - base).abs().max() > 1e-4


def test_stream_weights_are_a_softmax_per_sample():
    net = create_model("ifn", 4).eval()
    e = torch.randn(5, 3, 128, generator=torch.Generator().manual_seed(3))
    w = net.stream_weights(e)
    assert w.shape == (5, 3) and torch.all(w > 0)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(5))


def test_dual_attention_gates_shape_and_refinement_residual():
    x = torch.randn(2, 16, 50, requires_grad=True)
    assert DualAttention(16)(x).shape == x.shape
    block = RefinementBlock(16).eval()
    torch.nn.init.zeros_(block.body[-1].weight)  # zero correction: the block is the identity
    torch.nn.init.zeros_(block.body[-1].bias)
    torch.testing.assert_close(block(x), x)


def test_shared_refinement_reuses_one_block():
    shared = IFN(IFNConfig(refine_blocks=3, refine_shared=True))
    separate = IFN(IFNConfig(refine_blocks=3))
    assert all(len(enc.refine) == 1 and enc.passes == 3 for enc in shared.encoders)
    assert all(len(enc.refine) == 3 for enc in separate.encoders)
    assert count_parameters(shared) < count_parameters(separate)


def test_config_errors_name_the_key_and_input_rows_are_checked():
    with pytest.raises(ModelError, match="fusion"):
        create_model("ifn", 4, fusion="max")
    with pytest.raises(ModelError, match="stream_dims"):
        IFNConfig(stream_dims=(39, 69))
    with pytest.raises(ModelError, match="temporal_kernel"):
        IFNConfig(temporal_kernel=4)
    with pytest.raises(ModelError, match="unknown key"):
        create_model("ifn", 4, attention="sa")
    with pytest.raises(ModelError, match="114 feature rows"):
        create_model("ifn", 4)(torch.zeros(1, 1, 39, 200))


def test_config_round_trip_rebuilds_the_same_network():
    net = create_model("ifn_add", 6, d=32)
    assert family_of(net) == "ifn"
    again = build_network("ifn", net.config.to_dict())
    assert again.config == net.config
    assert IFNConfig.from_dict(net.config.to_dict()) == net.config
    with pytest.raises(ModelError, match="family"):
        build_network("resnet", {})
