"""The reworked attention blocks compute what the frozen copy in ``_attention_reference`` does:
same outputs, same gradients (input and every parameter), same state dicts, in train and
eval mode, in float64 (to rounding), float32 (float tolerance) and bf16 autocast (loosely).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from model import ATTENTION_KINDS, create_model
from model.attention import build_attention

from tests.model._attention_reference import build_reference_attention, reference_model

KINDS = [k for k in ATTENTION_KINDS if k != "none"]
# The maps after Conv2..Conv5 of a (B, 1, 39, 200) input.
_ZERO_IN_TRAINING = ("shared.bias", "shared.pointwise.bias")
SHAPES = [(32, 38, 199), (48, 19, 99), (64, 9, 49), (80, 9, 49)]


def _pair(kind: str, channels: int, seed: int, dtype=torch.float32, **kw):
    """(reference, new) blocks with one set of random weights (not the zero init of SA)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # the default init draws from the global generator
        torch.manual_seed(seed)
        ref = build_reference_attention(kind, channels, **kw)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))
        for name, b in ref.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 2.0, generator=gen)
            elif name.endswith("running_mean"):
                b.normal_(0.0, 0.3, generator=gen)
    new = build_attention(kind, channels, **kw)
    new.load_state_dict(ref.state_dict(), strict=True)
    return ref.to(dtype), new.to(dtype)


def _run(block, x, g, *, autocast=False):
    """Forward + backward of ``sum(block(x) * g)``; (out, x.grad, {param: grad}, buffers)."""
    x = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = block(x)
    (out.float() * g).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in block.named_parameters()}
    block.zero_grad(set_to_none=True)
    return out.detach(), x.grad.detach(), grads, {n: b.clone() for n, b in block.named_buffers()}


def _inputs(channels, h, w, seed, dtype, batch=2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, h, w, generator=gen, dtype=torch.float64).relu().to(dtype)
    g = torch.randn(batch, channels, h, w, generator=gen, dtype=torch.float64).to(dtype)
    return x, g


def _close(actual, expected, rtol, atol_scale, what):
    scale = float(expected.abs().max()) or 1.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol_scale * scale, msg=lambda m: f"{what}: {m}")


def _compare(ref_res, new_res, rtol, atol_scale, training):
    (o_r, gx_r, gp_r, b_r), (o_n, gx_n, gp_n, b_n) = ref_res, new_res
    assert o_n.dtype == o_r.dtype and gx_n.dtype == gx_r.dtype
    _close(o_n, o_r, rtol, atol_scale, "output")
    _close(gx_n, gx_r, rtol, atol_scale, "input gradient")
    assert gp_n.keys() == gp_r.keys()
    big = max(float(v.abs().max()) for v in gp_r.values())
    for name in gp_r:
        if training and name.endswith(_ZERO_IN_TRAINING):
            # A conv bias right before a training-mode BatchNorm: its gradient is 0 in exact
            # arithmetic, so both sides carry rounding noise only; it must be 0 at the block's scale.
            assert max(float(gp_n[name].abs().max()), float(gp_r[name].abs().max())) <= atol_scale * big, name
            continue
        torch.testing.assert_close(gp_n[name], gp_r[name], rtol=rtol, atol=atol_scale * float(gp_r[name].abs().max()),
                                   msg=lambda m, name=name: f"grad of {name}: {m}")
    for name in b_r:
        torch.testing.assert_close(b_n[name], b_r[name], rtol=rtol, atol=atol_scale, msg=f"buffer {name}")


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("channels, h, w", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_float64_outputs_and_gradients_equal_reference_to_rounding(kind, channels, h, w, mode):
    ref, new = _pair(kind, channels, seed=channels, dtype=torch.float64)
    ref.train(mode == "train"), new.train(mode == "train")
    x, g = _inputs(channels, h, w, seed=1, dtype=torch.float64)
    _compare(_run(ref, x, g), _run(new, x, g), rtol=1e-9, atol_scale=1e-10, training=mode == "train")


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("channels, h, w", [SHAPES[0], SHAPES[3]])
@pytest.mark.parametrize("kind", KINDS)
def test_float32_outputs_and_gradients_equal_reference(kind, channels, h, w, mode):
    ref, new = _pair(kind, channels, seed=7)
    ref.train(mode == "train"), new.train(mode == "train")
    x, g = _inputs(channels, h, w, seed=2, dtype=torch.float32)
    _compare(_run(ref, x, g), _run(new, x, g), rtol=1e-4, atol_scale=1e-4, training=mode == "train")


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("kind", KINDS)
def test_bf16_autocast_matches_reference_loosely_with_the_same_dtypes(kind, mode):
    channels, h, w = SHAPES[1]
    ref, new = _pair(kind, channels, seed=3)
    ref.train(mode == "train"), new.train(mode == "train")
    x, g = _inputs(channels, h, w, seed=3, dtype=torch.bfloat16)
    _compare(_run(ref, x, g, autocast=True), _run(new, x, g, autocast=True), rtol=5e-2, atol_scale=3e-2, training=mode == "train")


@pytest.mark.parametrize("kind", KINDS)
def test_no_grad_and_frozen_paths_equal_reference(kind):
    ref, new = _pair(kind, 48, seed=4)
    x, _ = _inputs(48, 19, 99, seed=4, dtype=torch.float32)
    for mode in (True, False):
        ref.train(mode), new.train(mode)
        with torch.no_grad():
            torch.testing.assert_close(new(x), ref(x), rtol=1e-5, atol=1e-6)
    new.requires_grad_(False)  # grad mode on, but nothing needs a gradient
    torch.testing.assert_close(new(x), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sa", "icasa"])
def test_odd_group_count_equals_reference(kind):
    ref, new = _pair(kind, 48, seed=5, sa_groups=3)
    x, g = _inputs(48, 19, 99, seed=5, dtype=torch.float64)
    ref.double(), new.double()
    _compare(_run(ref, x, g), _run(new, x, g), rtol=1e-9, atol_scale=1e-10, training=True)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_keys_and_shapes_unchanged(kind):
    ref, new = build_reference_attention(kind, 64), build_attention(kind, 64)
    assert {k: v.shape for k, v in new.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def _model_step(net, x, y):
    out = net(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


def test_plain_macnn_is_bit_identical_to_the_frozen_trunk():
    torch.manual_seed(0)
    net = create_model("macnn", 8)
    ref = reference_model(net)
    x = torch.randn(4, 1, 39, 200, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, 5, 7])
    out_n, g_n = _model_step(net, x, y)
    out_r, g_r = _model_step(ref, x, y)
    assert torch.equal(out_n, out_r)
    assert all(torch.equal(g_n[k], g_r[k]) for k in g_r)


@pytest.mark.parametrize("name", ["macnn_icasa", "macnn_ca", "macnn_se"])
def test_whole_model_training_step_matches_reference(name):
    torch.manual_seed(1)
    net = create_model(name, 8)
    ref = reference_model(net)
    x = torch.randn(4, 1, 39, 200, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([1, 2, 4, 6])
    out_n, g_n = _model_step(net, x, y)
    out_r, g_r = _model_step(ref, x, y)
    torch.testing.assert_close(out_n, out_r, rtol=1e-5, atol=1e-5)
    big = max(float(v.abs().max()) for v in g_r.values())
    for k in g_r:
        torch.testing.assert_close(g_n[k], g_r[k], rtol=1e-4, atol=1e-4 * max(float(g_r[k].abs().max()), 1e-3 * big))
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_traced_model_has_no_python_node_and_equals_reference():
    torch.manual_seed(2)
    net = create_model("macnn_icasa", 8).eval()
    x = torch.randn(2, 1, 39, 200, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, x)  # grad mode on: the autograd node must not be traced
    assert "PythonOp" not in str(traced.graph)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), reference_model(net).eval()(x), rtol=1e-5, atol=1e-5)


def _saved_bytes(block, x):
    """Bytes of distinct tensors autograd saves for the backward of ``block(x)``, minus ``x``'s."""
    seen = {}

    def pack(t):
        if t.data_ptr() != x.data_ptr():
            seen[t.data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(seen.values())


@pytest.mark.parametrize("kind", ["ca", "ica", "sa", "icasa"])
def test_training_forward_saves_no_full_size_product(kind):
    # Before: CA saved x * g_h, SA its normalised half and gates, ICASA both plus its blend.
    ref, new = _pair(kind, 32, seed=6)
    x = torch.randn(2, 32, 38, 199).relu().requires_grad_()
    map_bytes = x.numel() * x.element_size()
    saved_new, saved_ref = _saved_bytes(new, x), _saved_bytes(ref, x)
    assert saved_new <= 0.7 * map_bytes  # at most SA's spatial gate (half a map) and small gates
    assert saved_new <= 0.5 * saved_ref


def test_a_retained_graph_can_be_differentiated_twice():
    ref, new = _pair("icasa", 48, seed=8)
    x, g = _inputs(48, 9, 49, seed=8, dtype=torch.float32)
    for block in (ref, new):
        xi = x.clone().requires_grad_()
        out = block(xi)
        (out * g).sum().backward(retain_graph=True)
        first = xi.grad.clone()
        (out * g).sum().backward()
        torch.testing.assert_close(xi.grad, 2 * first)
