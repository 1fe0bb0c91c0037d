"""Shoebox rooms calibrated to a measured RT60, and the per-condition bank of them.

Why calibrate: inverse Sabine picks an absorption from the room volume, but an image-source
room decays differently (audiomentations' RoomSimulator, target 0.3 s: 0.02-0.6 s measured).
All walls share one energy absorption ``a``, so every image of reflection order ``n`` is
scaled by ``(1 - a) ** (n / 2)``; the RIR is therefore ``sum_n beta**n * H_n`` with
``beta = sqrt(1 - a)`` and ``H_n`` the RIR of the order-n images alone. ``H`` is built once per
room, and bisection on ``a`` is cheap.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from perturbations._rt60 import measure_rt60
from perturbations._seed import crc32
from perturbations.base import format_value
from perturbations.errors import PerturbationError

__all__ = [
    "ROOM_RANGES_M", "WALL_MARGIN_M", "HEIGHT_RANGE_M", "DISTANCE_RANGE_M", "TAIL_DB",
    "TOLERANCE", "Geometry", "CalibratedRoom", "sample_geometry", "rir_length",
    "image_sources", "order_components", "combine", "calibrate", "bank_room", "room_rir",
]

SPEED_OF_SOUND = 343.0
ROOM_RANGES_M = ((4.0, 8.0), (3.0, 6.0), (2.5, 3.5))  # x, y, z: office to living room
WALL_MARGIN_M = 0.5        # source and microphone at least this far from every wall
HEIGHT_RANGE_M = (1.2, 1.9)  # seated to standing mouth / microphone height
DISTANCE_RANGE_M = (1.0, 3.0)  # source-microphone distance
TAIL_DB = 45.0             # the RIR lasts as long as 45 dB of decay at the target RT60
TOLERANCE = 0.02           # bisection stops within 2 % of the target
ACCEPT = 0.05              # a room is rejected (redrawn) if it cannot get within 5 %
ABSORPTION_RANGE = (0.005, 0.995)
_FDL = 81                  # pyroomacoustics' fractional-delay filter length


@dataclass(frozen=True)
class Geometry:
    """Room dimensions, source and microphone positions, metres, each (x, y, z)."""

    dims: tuple[float, float, float]
    source: tuple[float, float, float]
    mic: tuple[float, float, float]


@dataclass(frozen=True)
class CalibratedRoom:
    """A room with its calibrated absorption and the RT60 measured from its RIR."""

    geometry: Geometry
    absorption: float
    measured_rt60_s: float


def sample_geometry(rng: np.random.Generator) -> Geometry:
    """Draw a room, source and microphone within the documented ranges (rejection sampling)."""
    dims = tuple(float(rng.uniform(lo, hi)) for lo, hi in ROOM_RANGES_M)
    for _ in range(1000):
        pts = []
        for _ in range(2):
            xy = [float(rng.uniform(WALL_MARGIN_M, d - WALL_MARGIN_M)) for d in dims[:2]]
            pts.append((*xy, float(rng.uniform(*HEIGHT_RANGE_M))))
        dist = math.dist(*pts)
        if DISTANCE_RANGE_M[0] <= dist <= DISTANCE_RANGE_M[1]:
            return Geometry(dims, pts[0], pts[1])
    raise PerturbationError(f"reverb: could not place source and microphone in room {dims}")


def rir_length(rt60_s: float, sample_rate: int) -> int:
    """Taps kept after the direct path: the time of ``TAIL_DB`` of decay at the target."""
    return int(math.ceil(rt60_s * TAIL_DB / 60.0 * sample_rate))


def _axis_images(source: float, size: float, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates along one axis and their wall-reflection counts (Allen & Berkley).

    ``x = (1 - 2q) * source + 2 n size`` for q in {0, 1}, |n| <= reach / (2 size) + 1, with
    ``|n - q| + |n|`` reflections. Returns two arrays of shape (k,).
    """
    n_max = int(math.ceil(reach / (2 * size))) + 1
    n = np.arange(-n_max, n_max + 1)
    coords = np.concatenate([source + 2 * n * size, -source + 2 * n * size])
    counts = np.concatenate([2 * np.abs(n), np.abs(n - 1) + np.abs(n)])
    return coords, counts


def image_sources(geom: Geometry, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Distances to the microphone and reflection orders of every image within ``radius``.

    The shoebox image lattice enumerated directly (the same images pyroomacoustics' ``ShoeBox``
    image-source model produces, without building the octahedron of all images up to an
    order, ~2x more than the sphere needs). Returns (distances (k,), orders (k,)).
    """
    axes = [_axis_images(s, size, radius) for s, size in zip(geom.source, geom.dims)]
    (x, ox), (y, oy), (z, oz) = axes
    dx2 = (x - geom.mic[0]) ** 2
    dy2 = (y - geom.mic[1]) ** 2
    dz2 = (z - geom.mic[2]) ** 2
    d2 = dx2[:, None, None] + dy2[None, :, None] + dz2[None, None, :]  # (kx, ky, kz)
    keep = d2 <= radius * radius
    orders = (ox[:, None, None] + oy[None, :, None] + oz[None, None, :])[keep]
    return np.sqrt(d2[keep]), orders


def order_components(geom: Geometry, sample_rate: int, length: int) -> np.ndarray:
    """Per-reflection-order RIRs ``H``, shape (max_order + 1, length + 2 * 81 + 2), float64.

    Times are relative to the direct path, which lands exactly on tap ``81 // 2`` (an integer
    delay, so it is a clean impulse); images arriving after ``length`` taps are dropped. Each
    order's images go through pyroomacoustics' fractional-delay RIR builder.
    """
    from pyroomacoustics import libroom
    from pyroomacoustics.parameters import constants

    d0 = math.dist(geom.source, geom.mic)
    dist, orders = image_sources(geom, d0 + length / sample_rate * SPEED_OF_SOUND)
    fdl2 = _FDL // 2
    n_taps = length + 2 * _FDL + 2
    times = ((dist - d0) / SPEED_OF_SOUND + fdl2 / sample_rate).astype(np.float32)
    amps = (d0 / dist).astype(np.float32)  # direct path amplitude 1 before normalisation
    order_idx = np.argsort(orders, kind="stable")
    bounds = np.searchsorted(orders[order_idx], np.arange(orders.max() + 2))
    h = np.zeros((int(orders.max()) + 1, n_taps))
    for n in range(h.shape[0]):
        sel = order_idx[bounds[n]: bounds[n + 1]]
        if sel.size == 0:
            continue
        ir = np.zeros(n_taps, dtype=np.float32)
        # one thread: a multi-threaded float sum could differ in its last bits between runs
        libroom.rir_builder(ir, np.ascontiguousarray(times[sel]), np.ascontiguousarray(amps[sel]),
                            int(sample_rate), _FDL, constants.get("sinc_lut_granularity"), 1)
        h[n] = ir
    return h


def combine(h: np.ndarray, absorption: float, sample_rate: int, length: int) -> np.ndarray:
    """RIR for one absorption: high-passed at 10 Hz (as pyroomacoustics does), cut to start at
    the direct path, ``length`` taps, unit energy. h: (orders, taps) -> (length,) float64."""
    beta = math.sqrt(1.0 - absorption)
    rir = (beta ** np.arange(h.shape[0])) @ h  # (taps,)
    sos = sps.butter(2, 10.0, btype="highpass", output="sos", fs=sample_rate)
    rir = sps.sosfiltfilt(sos, rir)[_FDL // 2: _FDL // 2 + length]
    return rir / np.sqrt(np.sum(rir * rir))


def calibrate(geom: Geometry, rt60_s: float, sample_rate: int
              ) -> tuple[float, float, np.ndarray] | None:
    """Bisect the absorption until the measured RT60 (T20) is within 2 % of ``rt60_s``.

    Returns ``(absorption, measured_rt60_s, rir (length,))`` or None when the room cannot get
    within 5 % (the caller then draws another room).
    """
    length = rir_length(rt60_s, sample_rate)
    h = order_components(geom, sample_rate, length)
    lo, hi = ABSORPTION_RANGE  # measured RT60 falls as absorption rises
    best = None
    for _ in range(40):
        a = math.sqrt(lo * hi)  # geometric midpoint: absorption spans two decades
        rir = combine(h, a, sample_rate, length)
        try:
            rt = measure_rt60(rir, sample_rate)
        except PerturbationError:  # too little decay: absorb more
            lo = a
            continue
        err = abs(rt / rt60_s - 1.0)
        if best is None or err < best[0]:
            best = (err, a, rt, rir)
        if err <= TOLERANCE:
            break
        if rt > rt60_s:
            lo = a
        else:
            hi = a
    if best is None or best[0] > ACCEPT:
        return None
    return best[1], best[2], best[3]


@functools.lru_cache(maxsize=512)
def bank_room(rt60_s: float, sample_rate: int, bank_seed: int, index: int) -> CalibratedRoom:
    """Room ``index`` of the bank for (rt60_s, bank_seed), calibrated at ``sample_rate``.

    Built lazily and cached; its geometry comes from ``default_rng([bank_seed, crc32(rt60),
    index])`` alone, so the bank does not depend on call order, workers or sample rate.
    """
    rng = np.random.default_rng([bank_seed, crc32(format_value(rt60_s)), index])
    return calibrated_room(rng, rt60_s, sample_rate)


def calibrated_room(rng: np.random.Generator, rt60_s: float, sample_rate: int) -> CalibratedRoom:
    """Draw rooms from ``rng`` until one calibrates to ``rt60_s`` (at most 8 tries)."""
    for _ in range(8):
        geom = sample_geometry(rng)
        result = calibrate(geom, rt60_s, sample_rate)
        if result is not None:
            a, rt, rir = result
            _RIRS[(geom, a, int(sample_rate), rt60_s)] = rir
            return CalibratedRoom(geom, a, rt)
    raise PerturbationError(f"reverb:rt60_s={format_value(rt60_s)}: no room in the documented "
                            f"ranges reaches this RT60 at {sample_rate} Hz")


_RIRS: dict = {}


def room_rir(geom: Geometry, absorption: float, sample_rate: int, rt60_s: float) -> np.ndarray:
    """The RIR (length,) for a recorded room; cached, rebuilt from the geometry when absent."""
    key = (geom, absorption, int(sample_rate), rt60_s)
    rir = _RIRS.get(key)
    if rir is None:
        length = rir_length(rt60_s, sample_rate)
        rir = combine(order_components(geom, sample_rate, length), absorption, sample_rate, length)
        if len(_RIRS) > 256:  # bound memory: drop the oldest entry
            _RIRS.pop(next(iter(_RIRS)))
        _RIRS[key] = rir
    return rir
