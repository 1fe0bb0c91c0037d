"""Synthetic corpus: layout, determinism, speech-like signal, emotion cues, learnability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audit.data import load_audio, load_data, manifest_hash, read_manifest, write_synthetic_corpus
from audit.errors import AuditError


def test_layout_and_folds(synth_small):
    df = load_data(synth_small)
    assert len(df) == 4 * 4 * 2 and set(df["corpus"]) == {"synth"}
    assert df.groupby("gender")["speaker"].nunique().to_dict() == {"female": 2, "male": 2}
    speakers = df.drop_duplicates("speaker")
    assert speakers.groupby("fold")["gender"].apply(sorted).map(tuple).tolist() == [("female", "male")] * 2
    assert df["duration_s"].between(2.0, 5.0).all() and (df["sample_rate"] == 16000).all()
    info = sf.info(df["path"][0])
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert (synth_small.parent / "wav").is_dir() and "wav/spk01_neutral_01.wav" in synth_small.read_text()


def test_default_size_has_eight_speakers_in_four_folds(tmp_path):
    # Only the manifest plan is checked here (1 utterance each keeps the test fast).
    df = read_manifest(write_synthetic_corpus(tmp_path, seed=3, utterances_per_emotion=1))
    assert df["speaker"].nunique() == 8 and df["fold"].nunique() == 4
    per_fold = df.groupby("fold").apply(lambda f: f.groupby("gender")["speaker"].nunique().to_dict())
    assert all(v == {"female": 1, "male": 1} for v in per_fold)


def test_deterministic_from_seed(tmp_path, synth_small):
    again = write_synthetic_corpus(tmp_path / "a", seed=0, n_speakers=4, utterances_per_emotion=2)
    assert manifest_hash(read_manifest(again)) == manifest_hash(read_manifest(synth_small))
    first = "wav/spk02_angry_02.wav"
    assert (again.parent / first).read_bytes() == (synth_small.parent / first).read_bytes()
    other = write_synthetic_corpus(tmp_path / "b", seed=1, n_speakers=4, utterances_per_emotion=2)
    assert (other.parent / first).read_bytes() != (synth_small.parent / first).read_bytes()
    # an utterance does not depend on which other emotions were generated
    sub = write_synthetic_corpus(tmp_path / "c", seed=0, n_speakers=4, utterances_per_emotion=2,
                                 emotions=("angry",))
    assert (sub.parent / first).read_bytes() == (synth_small.parent / first).read_bytes()


def test_speech_like_signal(synth_small):
    df = read_manifest(synth_small)
    for path in df["path"][::5]:
        wave, sr = load_audio(path)  # also checks: finite, not silent
        assert np.abs(wave).max() < 0.99
        spec = np.abs(np.fft.rfft(wave)) ** 2
        freqs = np.fft.rfftfreq(len(wave), 1 / sr)
        share = lambda lo, hi: spec[(freqs >= lo) & (freqs < hi)].sum() / spec.sum()  # noqa: E731
        assert share(0, 1000) > 0.5 and 0.005 < share(1000, 8000) < 0.5  # speech-shaped, not a tone
        frames = np.lib.stride_tricks.sliding_window_view(wave, 400)[::160]
        level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
        assert np.ptp(level) > 30  # syllables and pauses, not a steady signal
    f0 = df.groupby("gender")["f0_hz"].mean()
    assert f0["female"] > 1.4 * f0["male"]


def test_emotion_cues_within_speakers(synth_small):
    df = read_manifest(synth_small)
    df["rms_db"] = [10 * np.log10(np.mean(load_audio(p)[0] ** 2)) for p in df["path"]]
    means = df.groupby(["speaker", "emotion"])[["rms_db", "f0_hz"]].mean().unstack()
    assert (means["rms_db"]["angry"] > means["rms_db"]["sad"]).all()
    assert (means["f0_hz"]["happy"] > means["f0_hz"]["sad"]).all()


def test_learnable_but_hurt_by_noise(tmp_path):
    """MFCC statistics + logistic regression, speaker-independent: above chance, noise hurts."""
    torch = pytest.importorskip("torch")
    torchaudio = pytest.importorskip("torchaudio")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = load_data(write_synthetic_corpus(tmp_path, seed=0, n_speakers=6, utterances_per_emotion=6))
    mfcc = torchaudio.transforms.MFCC(16000, 13, melkwargs=dict(n_fft=512, win_length=400,
                                                                hop_length=160, n_mels=26))
    waves = [load_audio(p)[0] for p in df["path"]]

    def features(snr_db):
        rows = []
        for i, w in enumerate(waves):
            if snr_db is not None:
                noise = np.random.default_rng(i).standard_normal(len(w)).astype(np.float32)
                w = w + noise * np.sqrt(np.mean(w ** 2) / 10 ** (snr_db / 10))
            m = mfcc(torch.from_numpy(w)).numpy()
            rows.append(np.concatenate([m.mean(1), m.std(1)]))
        return np.array(rows)

    clean, noisy, y = features(None), features(0), df["emotion"].to_numpy()
    acc_clean, acc_noisy = [], []
    for k in sorted(df["fold"].unique()):
        train = (df["fold"] != k).to_numpy()
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
        clf.fit(clean[train], y[train])
        acc_clean.append(np.mean(clf.predict(clean[~train]) == y[~train]))
        acc_noisy.append(np.mean(clf.predict(noisy[~train]) == y[~train]))
    assert np.mean(acc_clean) > 0.40  # chance is 0.25 (4 balanced classes)
    assert np.mean(acc_clean) < 0.95  # not trivially separable
    assert np.mean(acc_noisy) < np.mean(acc_clean) - 0.08


def test_bad_arguments(tmp_path):
    with pytest.raises(AuditError, match="unknown emotion\\(s\\) bored"):
        write_synthetic_corpus(tmp_path, emotions=("sad", "bored"))
    with pytest.raises(AuditError, match=">= 2 speakers"):
        write_synthetic_corpus(tmp_path, n_speakers=1)
    assert isinstance(read_manifest(write_synthetic_corpus(tmp_path, n_speakers=2, utterances_per_emotion=1,
                                                            emotions=("sad",))), pd.DataFrame)


def test_separation_moves_emotions_apart_and_keeps_the_default(tmp_path, synth_small):
    """separation=1 is the corpus as before (same bytes); 3 spreads loudness and F0 by emotion."""
    import hashlib

    def digest(manifest):
        df = read_manifest(manifest)
        return hashlib.sha256(b"".join(open(p, "rb").read() for p in sorted(df["path"]))).hexdigest()

    def cues(sep):
        df = read_manifest(write_synthetic_corpus(tmp_path / f"s{sep}", seed=0, n_speakers=2,
                                                  utterances_per_emotion=2, separation=sep))
        df["rms_db"] = [10 * np.log10(np.mean(load_audio(p)[0] ** 2)) for p in df["path"]]
        m = df.groupby("emotion")[["rms_db", "f0_hz"]].mean()
        return m.loc["angry", "rms_db"] - m.loc["sad", "rms_db"], m.loc["happy", "f0_hz"] / m.loc["sad", "f0_hz"]

    same = write_synthetic_corpus(tmp_path / "one", seed=0, n_speakers=2, utterances_per_emotion=2, separation=1.0)
    plain = write_synthetic_corpus(tmp_path / "plain", seed=0, n_speakers=2, utterances_per_emotion=2)
    assert digest(same) == digest(plain)
    (loud1, f01), (loud3, f03) = cues(1.0), cues(3.0)
    assert loud3 > 2 * loud1 > 0 and f03 > f01 > 1
    with pytest.raises(AuditError, match="separation must be in"):
        write_synthetic_corpus(tmp_path / "bad", separation=0)
