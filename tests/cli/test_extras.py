"""A missing optional dependency stops the command with one line naming the extra
to install, never a traceback; each case runs the real CLI with the package's
import made to fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_admin_cli import CHEAP_HASHING

#: The CLI with the named modules made unimportable, as when they are not installed.
WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = ["homer", *sys.argv[2:]]
from homer.cli import main
main()
"""


def homer_without(
    modules: str, *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")},
        **CHEAP_HASHING,
        "HOMER_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


AMQP = "amqp://u:p@127.0.0.1:1/"
POSTGRESQL = "postgresql://u@127.0.0.1:1/x"


@pytest.mark.parametrize(
    ("modules", "args", "env", "extra"),
    [
        ("aio_pika", ("serve", "--port", "0", "--broker", AMQP), {}, "rabbitmq"),
        ("asyncpg", ("serve", "--port", "0", "--store", POSTGRESQL), {}, "postgresql"),
        ("asyncpg", ("migrate", "--store", POSTGRESQL), {}, "postgresql"),
        ("asyncpg", ("user", "list"), {"HOMER_STORE": POSTGRESQL}, "postgresql"),
        ("aio_pika", ("serve", "--port", "0"), {"HOMER_BROKER": AMQP}, "rabbitmq"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(
    tmp_path: Path, modules: str, args: tuple[str, ...], env: dict[str, str], extra: str
) -> None:
    result = homer_without(modules, *args, data_dir=tmp_path / "data", env=env)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("homer: error: ")
    assert lines[0].endswith(f"is not installed: pip install 'homer[{extra}]'"), lines[0]
    assert not (tmp_path / "data").exists(), "a command that cannot start creates nothing"


def test_without_uvloop_serve_runs_on_asyncio(tmp_path: Path) -> None:
    result = homer_without(
        "uvloop", "serve", "--port", "0", "--broker", "kafka://x", data_dir=tmp_path / "data"
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert "uvloop is not installed" in lines[0]
    assert lines[-1] == (
        "homer: error: unknown broker 'kafka://x': use 'inprocess' or 'amqp://user:pass@host/'"
    )
