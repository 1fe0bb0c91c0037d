"""Scenario specs: shipped files validate; typos and bad values name the key and the file."""

from __future__ import annotations

import pytest

from audit.errors import AuditError
from audit.scenario import (PAPER_SEED, SCENARIO_DIR, list_scenarios, load_scenario,
                            resolve_scenario)


def _write(tmp_path, text: str):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_shipped_scenarios_load():
    assert {"noise", "codec", "reverb", "fairness", "paper"} <= set(list_scenarios())
    for name in list_scenarios():
        spec = load_scenario(SCENARIO_DIR / f"{name}.toml")
        assert spec.name == name and spec.conditions[0] == "clean"
        assert spec.seed == PAPER_SEED


def test_paper_scenario_is_tables_15_to_18():
    spec = resolve_scenario("paper")
    assert spec.conditions == ["clean", "awgn:snr_db=20", "awgn:snr_db=10", "awgn:snr_db=0",
                               "mp3:bitrate_kbps=128", "reverb:rt60_s=0.3"]
    assert spec.groups == ["gender", "emotion"] and spec.intersections == [["gender", "emotion"]]
    assert len(spec.tables) == 4 and spec.bootstrap.unit == "speaker"


def test_table_and_string_conditions_are_the_same_key(tmp_path):
    a = load_scenario(_write(tmp_path, 'name="a"\nconditions=[{name="awgn", snr_db=10.0}]'))
    b = load_scenario(_write(tmp_path, 'name="a"\nconditions=["awgn:snr_db=10", "clean"]'))
    assert a.conditions == b.conditions == ["clean", "awgn:snr_db=10"]


@pytest.mark.parametrize("text, needle", [
    ('name="x"\ncondtions=["clean"]', "unknown key 'condtions' (did you mean 'conditions'?)"),
    ('name="x"\n[bootstrap]\nn_bot=10', "unknown key 'bootstrap.n_bot' (did you mean 'n_boot'?)"),
    ('name="x"\nseed="abc"', "key 'seed'"),
    ('name="x"\n[bootstrap]\nci=1.5', "key 'bootstrap.ci'"),
    ('name="x"\nconditions=["awgm:snr_db=3"]', "key 'conditions'"),
    ('name="x"\nconditions=[{name="awgn", snr_db="loud"}]', "key 'conditions'"),
    ('name="x"\ntables=["table99"]', "unknown table 'table99'"),
    ('name="x"\nintersections=[["gender"]]', "at least two columns"),
    ('seed=1', "key 'name'"),
    ('name="x"\nconditions=[', "invalid TOML"),
])
def test_errors_name_the_key_and_the_file(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(AuditError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert needle in msg and str(path) in msg and "\n" not in msg


def test_unknown_scenario_name_lists_the_known_ones():
    with pytest.raises(AuditError, match="unknown scenario 'nosie'.*noise"):
        resolve_scenario("nosie")


def test_a_folder_named_like_a_scenario_is_not_read_as_one(tmp_path, monkeypatch):
    """`audit run noise` again, from the folder where a first run wrote `noise/`: the built-in
    scenario, not a traceback (IsADirectoryError) from reading the folder as a spec."""
    from audit.scenario import resolve_scenario

    monkeypatch.chdir(tmp_path)
    (tmp_path / "noise").mkdir()
    assert resolve_scenario("noise").name == "noise"
    (tmp_path / "mine").mkdir()
    with pytest.raises(AuditError, match=r"^mine: is a folder, not a scenario file \(.toml\) or one of "):
        resolve_scenario("mine")
