"""Bad input to the simulator commands: one line on stderr, exit code 2."""

from __future__ import annotations

import pytest

from chargepark.platform.cli import main

BAD = [
    ["sim", "charger", "--id", "CP-1", "--ocpp", "1.5"],
    ["sim", "charger"],
    ["sim", "charger", "--id", "CP-1", "--url", "http://x"],
    ["sim", "charger", "--id", "CP-1", "--speed", "0"],
    ["sim", "charger", "--id", "CP-1", "--connectors", "0"],
    ["sim", "charger", "--id", "CP-1", "--password", "short"],
    ["sim", "charger", "--id", "CP-1", "--connectors-per-evse", "2"],
    ["sim", "run", "no-such-scenario", "--token", "t"],
    ["sim", "run", "single-visit"],
    ["sim", "run", "single-visit", "--token", "t", "--tag", "a-b"],
    ["sim", "run", "single-visit", "--token", "t", "--retry-for", "0"],
    ["sim", "run", "single-visit", "--token", "t", "--retry-for", "soon"],
    ["sim", "charger", "--id", "CP-1", "--reaction-time", "-1"],
    ["sim", "charger", "--id", "CP-1", "--phases", "2"],
    ["sim", "charger", "--id", "CP-1", "--voltage", "50"],
    ["sim", "charger", "--id", "CP-1", "--rate-units", "kW"],
    ["sim", "charger", "--id", "CP-1", "--external-limit", "lots"],
    ["sim", "charger", "--id", "CP-1", "--max-stack-level", "-1"],
    ["sim", "charger", "--id", "CP-1", "--iso15118"],
    ["sim", "run", "single-visit", "--token", "t", "--short"],
    ["sim", "nothing"],
    ["sim", "load", "--connections", "-3"],
    ["sim", "load", "--url", "http://x"],
    ["sim", "load", "--mode", "open"],
    ["demo", "--speed", "fast"],
    ["demo", "--ocpp", "2.1"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_input_is_one_line_and_exit_code_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "error" in err


def test_a_bad_scenario_file_names_the_place(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[cars]]\nregnum = "A1"\nsteps = [{ do = "fly" }]\n')
    assert main(["sim", "run", str(bad), "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert "A1.steps[0]: `fly` is not one of" in err
