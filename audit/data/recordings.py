"""Generated stand-ins for recorded noise and measured impulse responses (none ship with us).

``write_noise_folder`` writes background "recordings" at several rates and channel counts
(one shorter than an utterance, so it loops); ``write_ir_folder`` writes impulse responses of
known exponential decay (T60 given), with a pre-delay before the direct path and a noise floor,
as a measurement has. Both are seeded and write a ``README.txt`` (which the folder scanner
ignores) saying what each file is. ``audit data recordings DEST`` writes both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audit._atomic import atomic_write_text

__all__ = ["write_noise_folder", "write_ir_folder", "decaying_ir", "IR_SPECS", "NOISE_SPECS"]

# name, rate, channels, seconds, kind
NOISE_SPECS = (("hum_8k.wav", 8000, 1, 6.0, "hum"),
               ("street_44k1_stereo.flac", 44100, 2, 8.0, "street"),
               ("fan_22k05_short.wav", 22050, 1, 1.0, "fan"))
# name, rate, channels, T60 (s), pre-delay (s), noise floor (dB below the direct path)
# (a measured IR's peak-to-noise ratio is often 60-90 dB; T30 needs the 10 ms-block level to
# fall 45 dB above the floor, so the floors sit 85-90 dB under the direct-path tap)
IR_SPECS = (("booth_44k1.flac", 44100, 1, 0.25, 0.002, 90.0),
            ("room_16k.wav", 16000, 1, 0.5, 0.005, 85.0),
            ("hall_48k_stereo.wav", 48000, 2, 0.9, 0.010, 85.0))


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    out = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    return out / np.abs(out).max()


def _noise(kind: str, rng: np.random.Generator, rate: int, n: int) -> np.ndarray:
    """(n,) float64 in [-1, 1]: mains hum over pink noise, modulated traffic rumble, or a fan."""
    t = np.arange(n) / rate
    if kind == "hum":
        x = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        x = 0.5 * x / np.abs(x).max() + 0.5 * _pink(rng, n)
    elif kind == "street":
        rumble = np.cumsum(rng.standard_normal(n))
        rumble -= np.convolve(rumble, np.ones(rate // 20) / (rate // 20), mode="same")
        x = rumble / np.abs(rumble).max() * (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))
    else:
        x = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
        x *= 1 + 0.3 * np.sin(2 * np.pi * 37 * t)
    return 0.5 * x / np.abs(x).max()


def decaying_ir(rng: np.random.Generator, rate: int, t60_s: float, predelay_s: float,
                floor_db: float) -> np.ndarray:
    """An impulse response (taps,): zeros, a direct path, then Gaussian noise decaying by 60 dB
    in ``t60_s`` (energy), over a noise floor ``floor_db`` below the direct path; 2 x T60 long."""
    n = int(2.0 * t60_s * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / t60_s)
    tail[0] = 0.0
    direct = 4.0 * np.abs(tail).max()
    tail[0] = direct
    tail += rng.standard_normal(n) * direct * 10 ** (-floor_db / 20)
    ir = np.concatenate([rng.standard_normal(int(predelay_s * rate)) * direct * 10 ** (-floor_db / 20),
                         tail])
    return 0.9 * ir / np.abs(ir).max()


def write_noise_folder(dest: str | Path, seed: int = 0) -> Path:
    """Write the noise recordings of ``NOISE_SPECS`` (and a README.txt) to ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    lines = ["Generated background noise (audit data recordings); not real recordings."]
    for name, rate, channels, seconds, kind in NOISE_SPECS:
        n = int(seconds * rate)
        data = np.stack([_noise(kind, rng, rate, n) for _ in range(channels)], axis=1)
        sf.write(str(dest / name), data.astype(np.float32), rate, subtype="PCM_16")
        lines.append(f"{name}: {kind}, {rate} Hz, {channels} channel(s), {seconds:g} s")
    atomic_write_text(dest / "README.txt", "\n".join(lines) + "\n")
    return dest


def write_ir_folder(dest: str | Path, seed: int = 0) -> Path:
    """Write the impulse responses of ``IR_SPECS`` (and a README.txt with their T60) to ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    lines = ["Generated impulse responses of known decay (audit data recordings)."]
    for name, rate, channels, t60, predelay, floor in IR_SPECS:
        data = np.stack([decaying_ir(rng, rate, t60, predelay, floor) for _ in range(channels)],
                        axis=1)
        sf.write(str(dest / name), data.astype(np.float32), rate, subtype="PCM_24")
        lines.append(f"{name}: T60 {t60:g} s, {rate} Hz, {channels} channel(s), pre-delay "
                     f"{predelay * 1000:g} ms, noise floor -{floor:g} dB")
    atomic_write_text(dest / "README.txt", "\n".join(lines) + "\n")
    return dest
