"""`chargepark clients ...` and `chargepark keys ...` against the accounts database."""

from __future__ import annotations

from tests.support.procs import clean_env, run_cli


def cli(tmp_path, *args: str):
    return run_cli(*args, "--data-dir", str(tmp_path), env=clean_env())


def test_a_client_is_created_listed_and_revoked(tmp_path):
    created = cli(
        tmp_path,
        "clients",
        "create",
        "--name",
        "billing worker",
        "--scopes",
        "billing:read billing:write",
    )
    assert created.returncode == 0, created.stderr
    lines = dict(line.split(":", 1) for line in created.stdout.splitlines() if ":" in line)
    client_id = lines["client_id"].strip()
    assert len(lines["client_secret"].strip()) >= 32
    listed = cli(tmp_path, "clients", "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(client_id))
    assert "active" in row and "billing:read billing:write" in row
    assert lines["client_secret"].strip() not in listed.stdout
    assert cli(tmp_path, "clients", "revoke", client_id).returncode == 0
    listed = cli(tmp_path, "clients", "list")
    assert "revoked" in next(ln for ln in listed.stdout.splitlines() if ln.startswith(client_id))


def test_bad_admin_input_is_one_line_and_exit_code_2(tmp_path):
    for args, fragment in [
        (("clients", "create", "--name", "x", "--scopes", "parking:fly"), "unknown scope"),
        (("clients", "revoke", "cp_missing"), "no active client"),
        (("clients", "create"), "--name"),
        (("keys", "spin"), "invalid choice"),
    ]:
        result = cli(tmp_path, *args)
        assert result.returncode == 2, result
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert fragment in result.stderr


def test_keys_rotate_adds_a_signer_and_retires_the_old_one(tmp_path):
    assert cli(tmp_path, "keys", "rotate").returncode == 0
    rotated = cli(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0 and "new signing key" in rotated.stdout
    rows = cli(tmp_path, "keys", "list").stdout.splitlines()[1:]
    assert len(rows) == 2
    signing = [r for r in rows if "-" in r.split()]  # no retirement time: the signer
    assert len(signing) == 1
