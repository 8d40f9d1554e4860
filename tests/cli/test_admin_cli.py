"""The admin CLI end to end: a real ``homer`` process per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHEAP_HASHING = {
    "HOMER_IDENTITY_PASSWORDS_TIME_COST": "1",
    "HOMER_IDENTITY_PASSWORDS_MEMORY_COST_KIB": "256",
    "HOMER_IDENTITY_PASSWORDS_PARALLELISM": "1",
}


class Homer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")},
            **CHEAP_HASHING,
        }

    def __call__(
        self, *args: str, stdin: str | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "homer", *args]
        if not {"--data-dir", "--config", "--help"} & set(args):
            command += ["--data-dir", str(self.data_dir)]
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert result.returncode == expect, (args, result.returncode, result.stdout, result.stderr)
        return result


@pytest.fixture
def homer(tmp_path: Path) -> Homer:
    return Homer(tmp_path / "data")


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("homer: error: ")
    return lines[0]


def test_user_lifecycle(homer: Homer) -> None:
    added = homer(
        "user",
        "add",
        "alice",
        "--attr",
        "email=Alice@Example.ORG",
        "--attr",
        "display_name=Al",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert added.stdout.startswith("created user alice (")
    shown = json.loads(homer("user", "show", "ALICE").stdout)
    assert shown["name"] == "alice"
    assert shown["group"] == "users"
    assert shown["attributes"] == {"email": "Alice@example.org", "display_name": "Al"}
    assert shown["permissions"] == ["room.create", "room.mention_all", "room.post"]
    assert "password" not in json.dumps(shown)

    homer("user", "set", "alice", "display_name=Alice L.", "email=null")
    shown = json.loads(homer("user", "show", "alice").stdout)
    assert shown["attributes"] == {"display_name": "Alice L."}

    homer("user", "add", "bob", "--group", "admins", "--password-stdin", stdin="bob-password\n")
    listing = homer("user", "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "GROUP", "CREATED"]
    assert [line.split()[:2] for line in listing[1:]] == [["alice", "users"], ["bob", "admins"]]
    as_json = json.loads(homer("user", "list", "--json", "--search", "BO").stdout)
    assert [u["name"] for u in as_json["users"]] == ["bob"]

    homer("user", "passwd", "alice", "--password-stdin", stdin="another-pass\n")
    homer("user", "del", "bob")
    error = error_line(homer("user", "show", "bob", expect=1))
    assert "no user named 'bob'" in error


def test_invalid_input_exits_1_with_one_line_and_changes_nothing(homer: Homer) -> None:
    homer("user", "add", "carol", "--password-stdin", stdin="carol-password\n")
    cases = [
        (
            ("user", "add", "dave", "--attr", "email=nope", "--password-stdin"),
            "dave-password\n",
            "email",
        ),
        (
            ("user", "add", "dave", "--attr", "shoe=44", "--password-stdin"),
            "dave-password\n",
            "shoe",
        ),
        (("user", "add", "dave", "--password-stdin"), "short\n", "password"),
        (("user", "add", "CAROL", "--password-stdin"), "carol-password\n", "already exists"),
        (("user", "add", "bad name", "--password-stdin"), "long-password\n", "name"),
        (
            ("user", "add", "dave", "--group", "ghosts", "--password-stdin"),
            "dave-password\n",
            "ghosts",
        ),
        (("user", "set", "carol", "display_name=" + "x" * 65), None, "display_name"),
        (("user", "grant", "carol", "no.such"), None, "unknown permission"),
        (("group", "add", "g1", "--perm", "no.such"), None, "unknown permission"),
        (("group", "del", "users"), None, "default group"),
        (("group", "grant", "ghosts", "room.post"), None, "no group named"),
    ]
    for args, stdin, reason in cases:
        assert reason in error_line(homer(*args, stdin=stdin, expect=1))
    users = json.loads(homer("user", "list", "--json").stdout)["users"]
    assert [(u["name"], u["attributes"], u["grants"]) for u in users] == [("carol", {}, [])]
    groups = json.loads(homer("group", "list", "--json").stdout)
    assert [g["name"] for g in groups] == ["admins", "users"]


def test_usage_errors_exit_2(homer: Homer) -> None:
    homer("user", "add", expect=2)
    homer("user", "frobnicate", expect=2)
    homer("user", "add", "eve", "--password", "in-argv", expect=2)
    # No terminal and no --password-stdin: refuse to read a password from nowhere.
    result = homer("user", "add", "eve", stdin="", expect=2)
    assert "--password-stdin" in result.stderr
    homer(
        "user",
        "add",
        "eve",
        "--attr",
        "no-equals-sign",
        "--password-stdin",
        stdin="x" * 9,
        expect=2,
    )
    homer("token", "issue", "eve", "--ttl", "-5", expect=2)
    homer("audit", "--limit", "0", expect=2)


def test_groups_and_permissions(homer: Homer) -> None:
    homer("group", "add", "mods", "--perm", "room.moderate", "--perm", "room.post")
    homer("group", "grant", "mods", "broadcast.send")
    homer("group", "revoke", "mods", "room.post")
    groups = {g["name"]: g for g in json.loads(homer("group", "list", "--json").stdout)}
    assert groups["mods"]["permissions"] == ["broadcast.send", "room.moderate"]
    assert groups["users"]["default"] is True

    homer("user", "add", "frank", "--group", "mods", "--password-stdin", stdin="frank-password\n")
    homer("user", "grant", "frank", "admin.audit")
    shown = json.loads(homer("user", "show", "frank").stdout)
    assert shown["grants"] == ["admin.audit"]
    assert "admin.audit" in shown["permissions"]
    assert "room.post" not in shown["permissions"]

    deleted = homer("group", "del", "mods")
    assert "1 member(s) moved" in deleted.stdout
    shown = json.loads(homer("user", "show", "frank").stdout)
    assert shown["group"] == "users"
    assert shown["permissions"] == ["admin.audit", "room.create", "room.mention_all", "room.post"]
    homer("user", "revoke", "frank", "room.post")
    assert "room.post" not in json.loads(homer("user", "show", "frank").stdout)["permissions"]
    homer("user", "reset", "frank")
    shown = json.loads(homer("user", "show", "frank").stdout)
    assert (shown["grants"], shown["denies"]) == ([], [])
    assert shown["permissions"] == ["room.create", "room.mention_all", "room.post"]
    listed = homer("permissions").stdout
    assert "admin.users" in listed


def test_tokens_issue_check_and_exit_codes(homer: Homer) -> None:
    homer(
        "user",
        "add",
        "gina",
        "--attr",
        "email=g@example.org",
        "--password-stdin",
        stdin="gina-password\n",
    )
    token = homer("token", "issue", "gina").stdout.strip()
    claims = json.loads(homer("token", "check", token).stdout)
    assert claims["name"] == "gina"
    assert claims["aud"] == "homer"
    assert claims["exp"] - claims["iat"] == pytest.approx(1800, abs=0.01)

    forever = homer("token", "issue", "gina", "--ttl", "0").stdout.strip()
    assert "exp" not in json.loads(homer("token", "check", forever).stdout)

    expired = homer("token", "issue", "gina", "--ttl", "0.001").stdout.strip()
    result = homer("token", "check", expired, expect=3)
    assert "expired" in error_line(result)

    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert "invalid token" in error_line(homer("token", "check", tampered, expect=4))
    homer("token", "check", "not-a-token", expect=4)

    homer("token", "revoke", token)
    homer("token", "check", token, expect=4)
    homer("token", "revoke-all", "gina")
    homer("token", "check", forever, expect=4)
    homer("token", "issue", "nobody", expect=1)


def test_the_database_and_the_secret_are_owner_only(homer: Homer) -> None:
    homer("user", "add", "olly", "--password-stdin", stdin="olly-password\n")
    homer("token", "issue", "olly")
    for name in ("homer.db", "token-secret.key"):
        assert (homer.data_dir / name).stat().st_mode & 0o077 == 0, name


def test_token_check_with_another_data_dirs_key_is_invalid(homer: Homer, tmp_path: Path) -> None:
    homer("user", "add", "hank", "--password-stdin", stdin="hank-password\n")
    token = homer("token", "issue", "hank").stdout.strip()
    other = Homer(tmp_path / "other")
    other("token", "check", token, expect=4)


def test_audit_lists_changes_newest_first(homer: Homer) -> None:
    homer("user", "add", "ivy", "--password-stdin", stdin="ivy-password\n")
    homer("user", "grant", "ivy", "broadcast.send")
    homer("group", "add", "crew")
    lines = homer("audit", "--limit", "3").stdout.splitlines()
    assert lines[0].split() == ["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"]
    assert [line.split()[2:5] for line in lines[1:]] == [
        ["system", "group.create", "group:crew"],
        ["system", "user.grant", "user:ivy"],
        ["system", "user.create", "user:ivy"],
    ]
    entries = json.loads(homer("audit", "--json", "--limit", "2").stdout)
    assert [e["action"] for e in entries["entries"]] == ["group.create", "user.grant"]
    assert entries["next"] is not None


def test_config_file_and_environment(homer: Homer, tmp_path: Path) -> None:
    config = tmp_path / "homer.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "from-config"}"\n'
        '[tokens]\nttl = 60\nfields = ["name", "email"]\n'
        '[identity.attributes.email]\ntype = "email"\nrequired = true\n'
    )
    homer(
        "user", "add", "jack", "--config", str(config), "--password-stdin", stdin="x" * 9, expect=1
    )
    homer(
        "user",
        "add",
        "jack",
        "--attr",
        "email=j@example.org",
        "--config",
        str(config),
        "--password-stdin",
        stdin="jack-password\n",
    )
    assert (tmp_path / "from-config" / "homer.db").exists()
    token = homer("token", "issue", "jack", "--config", str(config)).stdout.strip()
    claims = json.loads(homer("token", "check", token, "--config", str(config)).stdout)
    assert claims["email"] == "j@example.org"
    assert claims["exp"] - claims["iat"] == pytest.approx(60, abs=0.01)
    broken = tmp_path / "broken.toml"
    broken.write_text("[tokens]\nttl = 'soon'\n")
    assert "tokens.ttl" in error_line(homer("user", "list", "--config", str(broken), expect=1))


def test_help_names_every_command(homer: Homer) -> None:
    top = homer("--help").stdout
    for command in ("user", "group", "token", "audit", "permissions"):
        assert command in top
    user_help = homer("user", "--help").stdout
    for command in ("add", "list", "show", "set", "passwd", "del", "grant"):
        assert command in user_help
    assert "--data-dir" in homer("audit", "--help").stdout
