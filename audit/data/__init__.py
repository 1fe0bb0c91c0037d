"""Corpora -> manifest, audio loading, speaker-independent folds, synthetic corpus, fetcher."""

from audit.data._labels import GENDERS
from audit.data._schema import CORE_COLUMNS
from audit.data.audio import (TARGET_SR, check_waveform, load_audio, read_frames, read_header, resample,
                              resampled_length, write_audio)
from audit.data.corpora import list_corpora
from audit.data.export import export_corpus
from audit.data.fetch import RAVDESS_URL, fetch_ravdess
from audit.data.folds import assign_folds, assign_utterance_folds, default_n_folds, split_fold
from audit.data.load import MANIFEST_NAME, detect_corpus, load_data
from audit.data.manifest import manifest_hash, read_manifest, validate_manifest, write_manifest
from audit.data.info import check_audio, format_summary, summarize
from audit.data.labelmap import (CORPUS_EMOTIONS, LabelMap, LabelMapping, list_label_maps,
                                  load_label_map, synonym)
from audit.data.problems import ProblemLog
from audit.data.protocol import apply_protocol, list_protocols, protocol_record

__all__ = [
    "CORE_COLUMNS", "GENDERS", "TARGET_SR", "SYNTH_EMOTIONS", "ProblemLog",
    "load_audio", "read_frames", "resample", "resampled_length", "read_header", "check_waveform",
    "write_audio",
    "read_manifest", "write_manifest", "validate_manifest", "manifest_hash",
    "assign_folds", "assign_utterance_folds", "split_fold", "default_n_folds",
    "write_synthetic_corpus",
    "load_data", "detect_corpus", "list_corpora", "MANIFEST_NAME",
    "summarize", "format_summary", "check_audio", "export_corpus", "fetch_ravdess", "RAVDESS_URL",
    "LabelMap", "LabelMapping", "load_label_map", "list_label_maps", "CORPUS_EMOTIONS", "synonym",
    "apply_protocol", "list_protocols", "protocol_record",
]


def __getattr__(name: str):
    # The synthesizer pulls in scipy.signal (seconds on a busy machine); load it on first use
    # so ``audit data info`` stays quick.
    if name in ("write_synthetic_corpus", "SYNTH_EMOTIONS"):
        from audit.data import synth

        return getattr(synth, name)
    raise AttributeError(f"module 'audit.data' has no attribute {name!r}")
