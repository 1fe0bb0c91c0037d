"""``audit data``: inspect corpora, write manifests, synthesize, fetch and export audio."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from audit._text import plural
from audit.errors import AuditError

__all__ = ["data"]

_SOURCE = click.argument("source", type=click.Path(path_type=Path))
_CORPUS = click.option("--corpus", default=None, metavar="NAME",
                       help="Force the corpus layout: ravdess, cremad, emodb, iemocap, tess, manifest.")
_SKIP_BAD = click.option("--skip-bad", is_flag=True,
                         help="Skip bad files/rows and record them in problems.csv instead of stopping.")
_FOLDS = click.option("--folds", "n_folds", type=int, default=None,
                      help="Re-assign N speaker-independent folds (default: keep or corpus rule).")
_OPTIONS = click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
                        help="Adapter option, e.g. -O improvised_only=true (IEMOCAP).")
_PROTOCOL = click.option("--protocol", type=click.Choice(["default", "emobox"]), default="default",
                         show_default=True,
                         help="Folds: ours, or EmoBox's published ones (RAVDESS, IEMOCAP; docs/protocols.md).")


def _problems_option(default: str):
    return click.option("--problems", "problems_path", type=click.Path(path_type=Path), default=None,
                        help=f"Where to write problems.csv (default: {default}).")


def _parse_options(items: tuple[str, ...]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AuditError(f"-O '{item}': expected KEY=VALUE")
        low = value.strip().lower()
        out[key.strip()] = True if low in ("true", "yes", "1") else False if low in ("false", "no", "0") else value
    return out


@contextmanager
def _progress(label: str, total: int | None):
    """A rich progress bar on stderr (silent when stderr is not a terminal).

    Yields ``update(n=1, *, done=None, size=None)``: advance by ``n`` items, or set ``done`` of
    ``size`` (bytes).
    """
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1, *, done=None, size=None: (
            bar.advance(task, n) if done is None else bar.update(task, completed=done, total=size))


def _load(source, corpus, skip_bad, n_folds, options, problems, protocol=None, require_folds=True):
    from audit.data import load_data

    return load_data(source, corpus=corpus, skip_bad=skip_bad, problems=problems, n_folds=n_folds,
                     options=_parse_options(options), protocol=protocol, require_folds=require_folds)


def _write_problems(problems, path: Path, always: bool) -> None:
    if always or len(problems):
        problems.write(path)
        click.echo(f"{plural(len(problems), 'problem')} recorded in {path}", err=True)


@click.group()
def data() -> None:
    """Corpora: summaries, manifests, the synthetic corpus, RAVDESS download, export."""


@data.command()
@_SOURCE
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_CORPUS
@_SKIP_BAD
@click.option("--check", is_flag=True, help="Decode every file (NaN/inf, all-zero, truncation); slower.")
@_problems_option("./problems.csv")
@_FOLDS
@_OPTIONS
@_PROTOCOL
def info(source, as_json, corpus, skip_bad, check, problems_path, n_folds, options, protocol):
    """Summarise a corpus folder or manifest CSV: counts by emotion x gender, durations, folds."""
    from audit.data import ProblemLog
    from audit.data.info import check_audio, format_summary, summarize

    problems = ProblemLog()
    # a one-speaker folder is described (without folds), not refused
    df = _load(source, corpus, skip_bad, n_folds, options, problems, protocol, require_folds=False)
    if check:
        with _progress("checking audio", len(df)) as advance:
            df = check_audio(df, skip_bad=skip_bad, problems=problems, progress=advance)
        if df.empty:
            raise AuditError(f"{source}: no file passed the audio check")
    summary = summarize(df, problems)
    click.echo(json.dumps(summary, indent=1) if as_json else format_summary(summary))
    # info writes no file unless asked: the summary already counts and quotes the problems.
    if skip_bad or problems_path is not None:
        _write_problems(problems, problems_path or Path("problems.csv"), always=True)


@data.command()
@_SOURCE
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Manifest CSV to write.")
@_CORPUS
@_SKIP_BAD
@_problems_option("next to the manifest")
@_FOLDS
@_OPTIONS
@_PROTOCOL
def manifest(source, output, corpus, skip_bad, problems_path, n_folds, options, protocol):
    """Write the manifest (with folds) of a corpus folder or CSV to OUTPUT."""
    from audit.data import ProblemLog, manifest_hash, write_manifest

    problems = ProblemLog()
    df = _load(source, corpus, skip_bad, n_folds, options, problems, protocol)
    path = write_manifest(df, output)
    click.echo(f"wrote {path} ({plural(len(df), 'utterance')}, "
               f"{plural(df['speaker'].nunique(), 'speaker')}, {plural(df['fold'].nunique(), 'fold')}, "
               f"sha256 {manifest_hash(df)[:12]})")
    _write_problems(problems, problems_path or output.parent / "problems.csv", always=skip_bad)


@data.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=None, help="Seed (default: the root --seed, else 0).")
@click.option("--speakers", type=int, default=8, show_default=True, help="Speakers, half female.")
@click.option("--per-emotion", type=int, default=12, show_default=True,
              help="Utterances per speaker and emotion.")
@click.option("--name", default="synth", show_default=True,
              help="Corpus name; another name also prefixes the speaker IDs (NAME-spk01).")
@click.option("--separation", type=float, default=1.0, show_default=True,
              help="Emotion distance from neutral, x the written profiles (the demo uses 2).")
@click.pass_context
def synth(ctx, dest, seed, speakers, per_emotion, name, separation):
    """Write the synthetic corpus (16 kHz WAV + manifest.csv with folds) to DEST."""
    from audit.data import load_data, write_synthetic_corpus
    from audit.data.info import format_summary, summarize

    if seed is None:
        seed = (ctx.obj or {}).get("seed")
    seed = 0 if seed is None else seed
    path = write_synthetic_corpus(dest, seed=seed, n_speakers=speakers, utterances_per_emotion=per_emotion,
                                  name=name, separation=separation)
    click.echo(f"wrote {path} (seed {seed})")
    click.echo(format_summary(summarize(load_data(path))))


@data.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=None, help="Seed (default: the root --seed, else 0).")
@click.pass_context
def recordings(ctx, dest, seed):
    """Write generated noise recordings (DEST/noise) and impulse responses of known decay
    (DEST/rir) for the noise:dir= and rir:dir= conditions: stand-ins, since none ship."""
    from audit.data.recordings import write_ir_folder, write_noise_folder

    seed = (ctx.obj or {}).get("seed") if seed is None else seed
    seed = 0 if seed is None else seed
    noise, rir = write_noise_folder(dest / "noise", seed), write_ir_folder(dest / "rir", seed)
    click.echo(f"wrote {noise} and {rir} (seed {seed}; what each file is: README.txt in each)")


@data.command()
@click.argument("corpus", type=click.Choice(["ravdess"]))
@click.option("--dest", type=click.Path(path_type=Path), required=True, help="Folder to fill.")
@click.option("--url", default=None, help="Archive URL (default: Zenodo record 1188976).")
@click.option("--sha256", default=None, help="Expected sha256 of the archive (verified if given).")
@click.option("--remove-archive", is_flag=True, help="Delete the zip after extraction.")
def fetch(corpus, dest, url, sha256, remove_archive):
    """Download and safely extract a corpus (RAVDESS speech) into DEST; resumable, idempotent."""
    from audit.data.fetch import RAVDESS_URL, fetch_ravdess

    with _progress("downloading", None) as update:
        record = fetch_ravdess(dest, url=url or RAVDESS_URL, sha256=sha256, keep_archive=not remove_archive,
                               progress=lambda done, size: update(done=done, size=size))
    state = "already present" if record["skipped"] else "fetched"
    check = "verified" if record["verified"] else "not verified (no --sha256 given)"
    click.echo(f"{corpus} {state} in {dest}: {plural(len(record['files']), 'file')}; archive sha256 "
               f"{record['sha256']} ({check})")


@data.command()
@_SOURCE
@click.option("--dest", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--rate", type=int, default=16000, show_default=True, help="Sample rate in Hz.")
@click.option("--format", "fmt", type=click.Choice(["flac", "wav"]), default="flac", show_default=True)
@_CORPUS
@_SKIP_BAD
@_FOLDS
@_OPTIONS
def export(source, dest, rate, fmt, corpus, skip_bad, n_folds, options):
    """Write resampled mono copies of SOURCE's audio and a manifest (ids, labels, folds kept)."""
    from audit.data import ProblemLog
    from audit.data.export import export_corpus

    problems = ProblemLog()
    df = _load(source, corpus, skip_bad, n_folds, options, problems)
    with _progress("exporting", len(df)) as advance:
        path = export_corpus(df, dest, rate=rate, fmt=fmt, skip_bad=skip_bad, problems=problems,
                             progress=advance)
    click.echo(f"wrote {path} ({rate} Hz {fmt})")
    _write_problems(problems, Path(dest) / "problems.csv", always=skip_bad)
