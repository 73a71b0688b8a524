"""Starts a real balsa binary for client-library tests."""

import os
import socket
import subprocess
import tempfile
import time

import pytest
import requests


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def balsa():
    binary = os.environ.get("TEST_BALSA_BIN", "target/debug/balsa")
    if not os.path.exists(binary):
        pytest.fail(f"balsa binary not found at {binary}; build it first (cargo build -p balsa-node)")
    data = tempfile.mkdtemp(prefix="balsa-py-")
    port, grpc = _free_port(), _free_port()
    log = open(os.path.join(data, "balsa.log"), "w")
    proc = subprocess.Popen(
        [binary, "-server.http_listen_address=127.0.0.1", f"-server.http_listen_port={port}",
         f"-server.grpc_listen_port={grpc}", f"-common.path_prefix={data}/data"],
        stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if requests.get(url + "/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("balsa did not become ready: " + open(os.path.join(data, "balsa.log")).read())
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
