"""load_audio / resample / read_header: formats, down-mix, and every kind of bad audio."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from _data_trees import tone, write_wav
from audit.data import TARGET_SR, load_audio, read_header, resample
from audit.errors import AuditError


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_load_mono_native_rate(tmp_path, fmt):
    path = write_wav(tmp_path / f"x.{fmt.lower()}", n=4410, sr=44100, fmt=fmt)
    wave, sr = load_audio(path)
    assert sr == 44100 and wave.dtype == np.float32 and wave.shape == (4410,)
    np.testing.assert_allclose(wave, tone(4410, 44100), atol=1e-4)


def test_stereo_is_averaged(tmp_path):
    data = np.stack([tone(800), -0.5 * tone(800)], axis=1)
    wave, _ = load_audio(write_wav(tmp_path / "s.wav", data=data))
    np.testing.assert_allclose(wave, 0.25 * tone(800), atol=1e-4)
    assert read_header(tmp_path / "s.wav").channels == 2


def test_load_with_target_rate(tmp_path):
    wave, sr = load_audio(write_wav(tmp_path / "x.wav", n=48000, sr=48000), target_sr=TARGET_SR)
    assert sr == 16000 and wave.shape == (16000,) and wave.dtype == np.float32


def test_resample_keeps_a_tone_and_length():
    sr = 48000
    x = np.sin(2 * np.pi * 440 * np.arange(sr) / sr).astype(np.float32)
    y = resample(x, sr, 16000)
    assert y.dtype == np.float32 and y.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(y[2000:14000] * np.hanning(12000)))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 2
    assert abs(np.sqrt(np.mean(y[2000:-2000] ** 2)) - np.sqrt(0.5)) < 0.01
    np.testing.assert_array_equal(resample(x, sr, sr), x)
    with pytest.raises(ValueError, match="shape"):
        resample(np.zeros((2, 10), np.float32), sr, 16000)


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"), ("empty", "empty file"), ("garbage", "not a readable audio file"),
    ("zero_length", "0 samples"), ("truncated_wav", "truncated"), ("truncated_flac", "truncated"),
    ("nan", "NaN/inf"), ("inf", "NaN/inf"), ("silent", "all-zero"),
])
def test_bad_audio_names_file_and_problem(tmp_path, case, message):
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"this is not audio" * 20)
    elif case == "zero_length":
        sf.write(str(path), np.zeros(0, np.float32), 8000)
    elif case == "truncated_wav":
        _truncate(write_wav(path, n=8000))
    elif case == "truncated_flac":
        path = _truncate(write_wav(tmp_path / "t.flac", n=8000, fmt="FLAC"))
    elif case in ("nan", "inf"):
        data = tone(800).astype(np.float32)
        data[10] = np.nan if case == "nan" else np.inf
        sf.write(str(path), data, 8000, subtype="FLOAT")
    elif case == "silent":
        sf.write(str(path), np.zeros(800, np.float32), 8000)
    with pytest.raises(AuditError, match=message) as err:
        load_audio(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
