"""Tiny, seeded Hugging Face / SpeechBrain model folders built locally (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IEMOCAP_LABELS = ["ang", "hap", "neu", "sad"]


def tiny_wav2vec2(dest: Path, *, labels=IEMOCAP_LABELS, seed: int = 0, sampling_rate: int = 16000,
                  do_normalize: bool = True, head_scale: float = 40.0) -> Path:
    """A random ``Wav2Vec2ForSequenceClassification`` (~20k parameters) saved to ``dest``.

    The classifier head is scaled up so the softmax is far from uniform and a wrong column
    order or a wrong window mean shows up in the probabilities.
    """
    import torch
    from transformers import (Wav2Vec2Config, Wav2Vec2FeatureExtractor,
                              Wav2Vec2ForSequenceClassification)

    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),  # 320: 50 frames/s
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=8,
        num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)})
    model = Wav2Vec2ForSequenceClassification(cfg).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(head_scale)
        model.projector.weight.mul_(4.0)
    model.save_pretrained(dest)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0,
                             do_normalize=do_normalize,
                             return_attention_mask=False).save_pretrained(dest)
    return dest


def voices(n: int = 3, *, seed: int = 0, sr: int = 16000, lengths=(4000, 9000, 16000)) -> list[np.ndarray]:
    """``n`` float32 ``(time,)`` test signals: tones with noise, of the given lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = lengths[i % len(lengths)]
        t = np.arange(length) / sr
        w = 0.3 * np.sin(2 * np.pi * (150 + 90 * i) * t) + 0.05 * rng.standard_normal(length)
        out.append(w.astype(np.float32))
    return out


SB_YAML = """\
pretrained_path: speechbrain/not-on-this-machine
sample_rate: 16000
n_mels: 20
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.Xvector.Xvector
    in_channels: !ref <n_mels>
    tdnn_channels: [16, 16, 16, 16, 24]
    lin_neurons: 16
classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, 16]
    lin_blocks: 1
    lin_neurons: 16
    out_neurons: {n_out}
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def tiny_speechbrain(dest: Path, *, labels=IEMOCAP_LABELS, seed: int = 0) -> Path:
    """A random x-vector ``EncoderClassifier`` folder (hyperparams.yaml, *.ckpt, label encoder).

    ``pretrained_path`` names a hub repository, as published SpeechBrain folders do: the
    adapter must point it at the folder instead of fetching it.
    """
    import torch
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.lobes.models.Xvector import Classifier, Xvector

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "hyperparams.yaml").write_text(SB_YAML.format(n_out=len(labels)))
    torch.manual_seed(seed)
    emb = Xvector(in_channels=20, tdnn_channels=[16, 16, 16, 16, 24], lin_neurons=16)
    clf = Classifier(input_shape=[None, None, 16], lin_blocks=1, lin_neurons=16,
                     out_neurons=len(labels))
    with torch.no_grad():  # a peaked softmax: a wrong class order changes the argmax
        for p in clf.parameters():
            p.mul_(3.0)
    torch.save(emb.state_dict(), dest / "embedding_model.ckpt")
    torch.save(clf.state_dict(), dest / "classifier.ckpt")
    enc = CategoricalEncoder()
    enc.update_from_iterable(list(labels))
    enc.save(dest / "label_encoder.txt")
    return dest


SB_CUSTOM_INTERFACE = '''\
import torch
from speechbrain.inference.interfaces import Pretrained


class TinyEmotionClassifier(Pretrained):
    """Shaped like CustomEncoderWav2vec2Classifier of emotion-recognition-wav2vec2-IEMOCAP."""

    MODULES_NEEDED = ["compute_features", "output_mlp"]

    def encode_batch(self, wavs, wav_lens=None):
        feats = self.mods.compute_features(wavs.to(self.device).float())  # (B, frames, n_mels)
        return feats.mean(dim=1, keepdim=True)  # (B, 1, n_mels)

    def classify_batch(self, wavs, wav_lens=None):
        out_prob = self.hparams.softmax(self.mods.output_mlp(self.encode_batch(wavs, wav_lens)))
        score, index = torch.max(out_prob, dim=-1)
        return out_prob, score, index, self.hparams.label_encoder.decode_torch(index)
'''

SB_CUSTOM_YAML = """\
pretrained_path: speechbrain/emotion-recognition-tiny
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: 20
output_mlp: !new:speechbrain.nnet.linear.Linear
    input_size: 20
    n_neurons: {n_out}
    bias: False
model: !new:torch.nn.ModuleList
    - [!ref <output_mlp>]
softmax: !new:speechbrain.nnet.activations.Softmax
    apply_log: True
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
modules:
    compute_features: !ref <compute_features>
    output_mlp: !ref <output_mlp>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
        label_encoder: !ref <label_encoder>
    paths:
        model: !ref <pretrained_path>/model.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def tiny_speechbrain_custom(dest: Path, *, labels=("neu", "ang", "hap", "sad"), seed: int = 0) -> Path:
    """The ``emotion-recognition-wav2vec2-IEMOCAP`` layout in miniature (custom_interface.py)."""
    import torch
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.nnet.linear import Linear

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "hyperparams.yaml").write_text(SB_CUSTOM_YAML.format(n_out=len(labels)))
    (dest / "custom_interface.py").write_text(SB_CUSTOM_INTERFACE)
    torch.manual_seed(seed)
    mlp = Linear(input_size=20, n_neurons=len(labels), bias=False)
    torch.save(torch.nn.ModuleList([mlp]).state_dict(), dest / "model.ckpt")
    enc = CategoricalEncoder()
    enc.update_from_iterable(list(labels))
    enc.save(dest / "label_encoder.txt")
    return dest
