"""A local S3-compatible server for the S3 adapter's tests: moto's server mode,
one per test process (each pytest-xdist worker starts its own) on a free port
of 127.0.0.1, stopped by its pid when the session ends. Each test gets a bucket
of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from tests.server.test_process import free_port

#: Seconds the server has to answer after it was started.
PATIENCE = 60.0
#: moto takes any credentials; these keep the machine's own out of the tests.
CREDENTIALS = {"aws_access_key_id": "homer-test", "aws_secret_access_key": "homer-test-secret"}
REGION = "us-east-1"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, if only to refuse
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto server of this test process's own."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **{name.upper(): value for name, value in CREDENTIALS.items()}},
    )
    try:
        deadline = time.monotonic() + PATIENCE
        while not _answers(f"{endpoint}/moto-api/"):
            if server.poll() is not None:
                pytest.fail(f"the moto server exited with {server.returncode}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the moto server did not answer within {PATIENCE} s", pytrace=False)
            time.sleep(0.1)
        yield endpoint
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
async def s3_client(s3_endpoint: str) -> AsyncIterator[Any]:
    """A client of the test's own, for what the adapter does not do."""
    async with get_session().create_client(
        "s3", region_name=REGION, endpoint_url=s3_endpoint, **CREDENTIALS
    ) as client:
        yield client


@pytest.fixture
async def bucket(s3_client: Any) -> str:
    """A fresh, empty bucket."""
    name = f"homer-test-{uuid.uuid4().hex[:12]}"
    await s3_client.create_bucket(Bucket=name)
    return name


def s3_url(endpoint: str, bucket: str, prefix: str = "files", **params: object) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"endpoint": endpoint, "region": REGION, **params}.items()
    )
    key, secret = CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]
    return f"s3://{key}:{secret}@{bucket}/{prefix}?{query}"
