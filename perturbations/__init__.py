"""Seeded, measured signal degradations, applied at the waveform's native rate.

Each perturbation is a frozen dataclass with parameters in units; ``sample_params(rng,
sample_rate)`` makes every random choice, ``apply(waveform, sample_rate, params)`` is
deterministic, and ``render`` returns the output with a flat record of what was applied and
measured (``achieved_snr_db``, ``measured_rt60_s``, ``bitrate_kbps``). ``noise`` and ``rir``
read folders of recordings; their ``source()`` (folder and content hash) identifies them.
"""

from perturbations._noise import NoiseAtSNR
from perturbations._seed import derive_rng
from perturbations.awgn import AWGN
from perturbations.babble import Babble
from perturbations.base import Chain, Clean, Perturbation, format_value
from perturbations.clipping import Clipping
from perturbations.codec import Codec
from perturbations.colored_noise import BrownNoise, PinkNoise
from perturbations.errors import PerturbationError, SilentInputError
from perturbations.gain import Gain
from perturbations.measured_rir import MeasuredRIR
from perturbations.mp3 import MP3
from perturbations.pitch import Pitch
from perturbations.recorded_noise import RecordedNoise
from perturbations.registry import condition_from_dict, list_perturbations, parse_condition
from perturbations.render import render
from perturbations.reverb import Reverb
from perturbations.speed import Speed
from perturbations.telephone import Telephone

__all__ = [
    "Perturbation", "Clean", "Chain", "NoiseAtSNR",
    "AWGN", "PinkNoise", "BrownNoise", "Babble", "MP3", "Codec", "Reverb", "Telephone",
    "Clipping", "Gain", "Speed", "Pitch", "RecordedNoise", "MeasuredRIR",
    "PerturbationError", "SilentInputError",
    "parse_condition", "condition_from_dict", "list_perturbations", "derive_rng", "render",
    "format_value",
]
