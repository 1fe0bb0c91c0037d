"""The optional ssl stream on a tiny randomly initialised wav2vec2 written to a temp folder
(no download). Skipped without transformers; importing it takes a few seconds."""

import json

import pytest
import torch

from model import FeatureConfig, ModelError, create_model
from model.ssl import ssl_hidden_size, ssl_normalizes, ssl_unavailable
from model.streams import StreamExtractor, stream_dims


@pytest.fixture(scope="module")
def tiny_ssl(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_w2v2")
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    return folder


def test_unavailable_reasons_without_loading(tmp_path):
    import importlib.util

    expected = "not a pre-trained model folder" if importlib.util.find_spec("transformers") else "transformers"
    assert expected in ssl_unavailable(tmp_path)
    assert ssl_unavailable(None) in ("no ssl model folder given",
                                     "the ssl stream needs transformers (pip install 'ser-audit[ssl]')")
    with pytest.raises(ModelError, match="config.json"):
        ssl_hidden_size(tmp_path)
    assert ssl_normalizes(tmp_path) is False


def test_ssl_stream_on_the_mfcc_grid_batch_equals_items(tiny_ssl):
    c = FeatureConfig(streams=("mfcc", "ssl"), ssl_model=str(tiny_ssl))
    assert stream_dims(c) == (39, 16) and ssl_normalizes(tiny_ssl)
    ext = StreamExtractor(c)
    ext.train()  # the frozen encoder must stay in eval mode (no dropout)
    assert not ext.streams[1].encoder.training
    x = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = ext(x)
        assert out.shape == (2, 55, 51) and torch.isfinite(out).all()
        assert torch.equal(out, ext(x))
        for i in range(2):
            torch.testing.assert_close(ext(x[i]), out[i], rtol=1e-4, atol=1e-4)
        assert ext(x[0, :300]).shape == (55, 2)  # shorter than the encoder's receptive field


def test_ifn_ssl_takes_the_encoder_width(tiny_ssl):
    c = FeatureConfig(streams=("mfcc", "spectral", "prosodic", "ssl"), ssl_model=str(tiny_ssl), ssl_layer=1)
    net = create_model("ifn_ssl", 3, stream_dims=stream_dims(c))
    feats = StreamExtractor(c)(0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(1)))
    assert feats.shape == (130, 101)
    assert net(feats[None, None, :, :100]).shape == (1, 3)
    with pytest.raises(ModelError, match="ssl_layer=7"):
        StreamExtractor(FeatureConfig(streams=("ssl",), ssl_model=str(tiny_ssl), ssl_layer=7))(torch.zeros(800))


def test_ifn_ssl_trains_and_its_checkpoint_names_the_encoder(tiny_ssl, tmp_path):
    import shutil

    import numpy as np

    from model import FeatureConfig as FC, TrainConfig, load_checkpoint, train_model

    folder = tmp_path / "encoder"
    shutil.copytree(tiny_ssl, folder)
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(12000)).astype(np.float32) for _ in range(4)]
    cfg = TrainConfig(model="ifn_ssl", epochs=1, batch_size=4, progress=False, device="cpu",
                      features=FC(ssl_model=str(folder)))
    weights = train_model(waves, ["a", "b", "a", "b"], ["a", "b"], cfg, out_stem=tmp_path / "fold0")
    doc = json.loads(weights.with_suffix(".json").read_text())
    assert doc["feature_config"]["streams"][-1] == "ssl" and doc["feature_config"]["ssl_model"] == str(folder)
    assert doc["model_config"]["stream_dims"] == [39, 69, 6, 16]  # the encoder's width, not the default 768
    proba = load_checkpoint(weights).predict_proba(waves[:2])
    assert proba.shape == (2, 2)
    shutil.rmtree(folder)
    with pytest.raises(ModelError, match="encoder.*config.json"):
        load_checkpoint(weights)
