"""The README and docs stay true: figures equal the committed runs they cite, links resolve, the
README stays a front door (short, narrow, commands as they run on a fresh clone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _doc_figures import REPO, Mismatch, _Sources, check_file, doc_files, matches, numbers

_LINK = re.compile(r"\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_readme_is_short_and_narrow():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    wide = [(i + 1, len(line)) for i, line in enumerate(lines) if len(line) > 160]
    assert wide == [], f"README lines over 160 characters: {wide}"


def test_readme_commands_run_on_a_fresh_clone():
    """Commands use the venv's ``audit`` (a bare ``audit`` works only with the venv active) and
    the corpus path a user fetches, not this machine's shared copy."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    assert blocks and any(".venv/bin/audit " in line for line in lines)
    assert [line for line in lines if re.match(r"^audit\s", line)] == []
    assert "../shared" not in text


def test_quoted_figures_match_the_committed_runs():
    sources = _Sources(REPO)
    problems: list[Mismatch] = []
    cited = 0
    for path in doc_files():
        found, n = check_file(path, REPO, sources)
        problems += found
        cited += n
    assert cited >= 10, f"only {cited} citations found: the checker sees no figures"
    assert problems == [], "\n".join(map(str, problems))


def test_the_readme_headline_cites_the_committed_ravdess_run():
    _, cited = check_file(REPO / "README.md")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert cited >= 2 and "<!-- figures: results/ravdess/" in text


def test_relative_links_resolve():
    missing = []
    for path in doc_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for m in _LINK.finditer(line):
                target = m["target"].split("#")[0]
                if not target or re.match(r"^[a-z]+:", target):
                    continue
                if not (path.parent / target).exists():
                    missing.append(f"{path.relative_to(REPO)}:{i}: {target}")
    assert missing == []


# --- the checker itself can fail --------------------------------------------------------------

@pytest.fixture
def tree(tmp_path) -> Path:
    run = tmp_path / "results" / "run"
    run.mkdir(parents=True)
    (run / "table.csv").write_text("condition,m WA,m WA ci_low,m WA ci_high\n"
                                   "clean,44.79,40.76,49.24\n20 dB SNR,35.90,32.15,40.07\n")
    (run / "compare.csv").write_text("condition,metric,diff,ci_low,ci_high,p\n"
                                     "clean,ua,1.23698,-4.8006,7.27455,1.75e-05\n")
    return tmp_path


def _doc(tree: Path, text: str) -> list[Mismatch]:
    path = tree / "doc.md"
    path.write_text(text)
    return check_file(path, tree)[0]


def test_numbers_and_rounding():
    assert numbers("+1.24 [−4.80, +7.27]") == [(1.24, 2, False), (-4.8, 2, False), (7.27, 2, False)]
    assert numbers("25,920 rows, p < 0.001") == [(25920.0, 0, False), (0.001, 3, True)]
    assert matches((1.24, 2, False), "1.23698") and not matches((1.25, 2, False), "1.23698")
    assert matches((10.3, 1, False), "10.35") and not matches((10.5, 1, False), "10.35")
    assert matches((49.24, 2, False), "49.24") and not matches((49.25, 2, False), "49.24")
    assert matches((0.001, 3, True), "0.0004") and not matches((0.001, 3, True), "0.002")
    assert matches((1.75e-05, -1, False), "1.75e-05") and not matches((1.9e-05, -1, False), "1.75e-05")


def test_a_right_table_passes_and_a_wrong_one_fails(tree):
    note = "<!-- figures: results/run/table.csv key=condition -->\n"
    good = note + "| condition | m WA | paper |\n|---|---|---|\n| clean | 44.79 [40.76, 49.24] | 80.24 |\n"
    assert _doc(tree, good) == []
    wrong = good.replace("49.24]", "49.42]")
    assert [m.problem for m in _doc(tree, wrong)] == [
        "results/run/table.csv m WA ci_high: quoted '44.79 [40.76, 49.42]', the run has 49.24"]
    unknown = note + "| condition | m WA |\n|---|---|\n| 5 dB SNR | 30.00 |\n"
    assert "no row {'condition': '5 dB SNR'}" in _doc(tree, unknown)[0].problem
    nothing = note + "| condition | paper |\n|---|---|\n| clean | 80.24 |\n"
    assert "nothing checked" in _doc(tree, nothing)[0].problem


def test_a_right_link_passes_and_a_wrong_one_fails(tree):
    link = "[+1.24 [−4.80, +7.27]](results/run/compare.csv#condition=clean&metric=ua&col=diff)"
    assert _doc(tree, f"UA rises {link}.\n") == []
    assert _doc(tree, f"{link.replace('+1.24', '+1.42')}\n")[0].problem.endswith("the run has 1.23698")
    assert _doc(tree, "[44.79](results/run/table.csv#condition=clean&col=m+WA)\n") == []
    assert "matches 0 rows" in _doc(tree, "[44.79](results/run/table.csv#condition=x&col=m+WA)\n")[0].problem
    assert "no such file" in _doc(tree, "[1](results/run/gone.csv#a=b&col=c)\n")[0].problem
