"""The image and the compose cluster, run for real: three balsa containers on a
docker network, pushed to and queried over their published ports, killed,
restarted one by one, cut off the network, and rebuilt from an empty volume.

The image wraps the binary the suite already built (TEST_BALSA_BIN, the debug
build), so the suite needs no release build; deploy/docker/build.sh builds
release by default and the image is otherwise the same. Without a Docker
daemon every test here prints `SKIPPED: docker not available` and is skipped.
Containers, networks and volumes are removed even when a test fails; each
container's log is kept in target/container-tests/.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
NODES = ["balsa-0", "balsa-1", "balsa-2"]


def _docker_missing():
    if not shutil.which("docker"):
        return "the docker command is not installed"
    if not shutil.which("docker-compose"):
        return "docker-compose is not installed"
    r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if r.returncode != 0:
        return "no docker daemon answers: " + r.stderr.strip()[:200]
    return None


def _skip(why):
    print(f"\nSKIPPED: {why}", flush=True)
    pytest.skip(f"SKIPPED: {why}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, env=None, check=True, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def image():
    why = _docker_missing()
    if why:
        _skip(f"docker not available ({why})")
    binary = os.environ.get("TEST_BALSA_BIN", str(ROOT / "target" / "debug" / "balsa"))
    if not os.path.exists(binary):
        pytest.fail(f"balsa binary not found at {binary}; build it first (cargo build -p balsa-node)")
    tag = f"balsa:test-{os.getpid()}"
    env = dict(os.environ, BALSA_BIN=binary)
    out = _run(["bash", str(ROOT / "deploy" / "docker" / "build.sh"), tag], env=env).stdout
    print(out.strip())
    yield tag
    _run(["docker", "rmi", "-f", tag], check=False)


class Cluster:
    """One docker-compose project of deploy/compose/docker-compose.yml."""

    def __init__(self, image):
        self.project = f"balsatest{os.getpid()}"
        self.ports = {n: _free_port() for n in NODES}
        self.env = dict(os.environ, BALSA_IMAGE=image, COMPOSE_PROJECT_NAME=self.project)
        for i, n in enumerate(NODES):
            self.env[f"BALSA_PORT_{i}"] = str(self.ports[n])
        self.network = f"{self.project}_default"

    def compose(self, *args, check=True, timeout=300):
        return _run(["docker-compose", "-f", str(COMPOSE_DIR / "docker-compose.yml"), *args],
                    env=self.env, check=check, timeout=timeout)

    def url(self, node):
        return f"http://127.0.0.1:{self.ports[node]}"

    def container(self, node):
        cid = self.compose("ps", "-q", node).stdout.strip()
        assert cid, f"no container for {node}"
        return cid

    def inspect(self, node, fmt):
        return _run(["docker", "inspect", "-f", fmt, self.container(node)]).stdout.strip()

    def ready(self, node):
        try:
            return requests.get(self.url(node) + "/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, nodes=NODES, timeout=180):
        deadline = time.time() + timeout
        pending = list(nodes)
        while pending:
            pending = [n for n in pending if not self.ready(n)]
            if pending and time.time() > deadline:
                raise AssertionError(f"{pending} not ready after {timeout}s:\n" + self.logs(pending, tail=40))
            time.sleep(0.5)

    def logs(self, nodes=NODES, tail=None):
        args = ["logs", "--no-color"] + ([f"--tail={tail}"] if tail else []) + list(nodes)
        return self.compose(*args, check=False).stdout

    def down(self):
        out = ROOT / "target" / "container-tests"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.project}.log").write_text(self.logs())
        self.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)


@pytest.fixture(scope="module")
def cluster(image):
    c = Cluster(image)
    try:
        c.compose("up", "-d")
        c.wait_ready()
        yield c
    finally:
        c.down()


# Every line any test got acknowledged: the rebuilt node must serve them all.
ACKED = {}


def push(url, test, line, ts_ns, timeout=10):
    body = {"streams": [{"stream": {"job": "containers", "test": test}, "values": [[str(ts_ns), line]]}]}
    return requests.post(url + "/loki/api/v1/push", json=body, timeout=timeout)


def query_lines(url, test, timeout=30):
    now = time.time_ns()
    r = requests.get(url + "/loki/api/v1/query_range", timeout=timeout, params={
        "query": f'{{job="containers", test="{test}"}}', "start": str(now - 3600 * 10**9),
        "end": str(now + 60 * 10**9), "limit": "5000", "direction": "forward"})
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
    return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]


class Load(threading.Thread):
    """A client that pushes one line at a time and, like a shipper behind a
    Service, retries a failed push on the next node until it is acknowledged
    (giving up only after `give_up` seconds, which counts as a failed push)."""

    def __init__(self, cluster, test, nodes=NODES, interval=0.02, give_up=90):
        super().__init__(daemon=True)
        self.cluster, self.test, self.nodes = cluster, test, list(nodes)
        self.interval, self.give_up = interval, give_up
        self.stop_flag = threading.Event()
        self.acked, self.attempted, self.failed = [], set(), []
        self.retries = 0

    def run(self):
        i, node = 0, 0
        while not self.stop_flag.is_set():
            line = f"{self.test} line {i}"
            ts = time.time_ns()
            self.attempted.add(line)
            started = time.time()
            while True:
                target = self.nodes[node % len(self.nodes)]
                node += 1
                try:
                    if push(self.cluster.url(target), self.test, line, ts, timeout=5).status_code == 204:
                        self.acked.append(line)
                        break
                except requests.RequestException:
                    pass
                self.retries += 1
                if time.time() - started > self.give_up:
                    self.failed.append(line)
                    break
                time.sleep(0.1)
            i += 1
            time.sleep(self.interval)

    def __enter__(self):
        self.start()
        time.sleep(2)
        return self

    def __exit__(self, *exc):
        time.sleep(2)
        self.stop_flag.set()
        self.join(timeout=self.give_up + 30)
        ACKED[self.test] = set(self.acked)


def assert_converged(cluster, test, acked, attempted, nodes=NODES, timeout=120):
    """Every node returns every acknowledged line, each once, and nothing never sent."""
    deadline = time.time() + timeout
    while True:
        answers = {n: query_lines(cluster.url(n), test) for n in nodes}
        missing = {n: set(acked) - set(a) for n, a in answers.items()}
        if not any(missing.values()) and len({tuple(a) for a in answers.values()}) == 1:
            break
        if time.time() > deadline:
            raise AssertionError(
                f"not converged after {timeout}s: missing {({n: len(m) for n, m in missing.items()})}, "
                f"counts {({n: len(a) for n, a in answers.items()})}")
        time.sleep(1)
    lines = answers[nodes[0]]
    assert len(lines) == len(set(lines)), "a line is stored twice"
    assert set(lines) <= attempted, f"lines nobody sent: {sorted(set(lines) - attempted)[:5]}"


def test_image_is_small_non_root_and_healthy(cluster, image):
    size = int(_run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout)
    print(f"image {image}: {size / 2**20:.1f} MiB")
    assert _run(["docker", "image", "inspect", "-f", "{{.Config.User}}", image]).stdout.strip() == "10001:10001"
    version = _run(["docker", "run", "--rm", image, "-version"]).stdout
    assert version.startswith("balsa, version"), version
    # The compose config passes -verify-config inside the image.
    r = _run(["docker", "run", "--rm", "-v", f"{COMPOSE_DIR / 'balsa.yaml'}:/etc/balsa/balsa.yaml:ro",
              image, "-verify-config", "-config.file=/etc/balsa/balsa.yaml"])
    assert "config is valid" in r.stdout, r.stdout
    # Docker's health check runs `balsa -health-check` in each container.
    deadline = time.time() + 120
    while True:
        health = {n: cluster.inspect(n, "{{.State.Health.Status}}") for n in NODES}
        if all(h == "healthy" for h in health.values()):
            break
        assert time.time() < deadline, f"health: {health}"
        time.sleep(1)
    for n in NODES:
        assert cluster.inspect(n, "{{.Config.User}}") == "10001:10001"
        assert cluster.inspect(n, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    status = requests.get(cluster.url("balsa-1") + "/cluster/status", timeout=5)
    assert status.status_code == 200, status.text


def test_push_through_one_read_through_another(cluster):
    ts = time.time_ns()
    r = push(cluster.url("balsa-0"), "one", "pushed to balsa-0", ts)
    assert r.status_code == 204, r.text
    ACKED["one"] = {"pushed to balsa-0"}
    for n in ["balsa-1", "balsa-2"]:
        assert query_lines(cluster.url(n), "one") == ["pushed to balsa-0"], n


def test_docker_kill_under_load_loses_nothing(cluster):
    with Load(cluster, "kill") as load:
        _run(["docker", "kill", cluster.container("balsa-1")])
        time.sleep(3)
        assert not cluster.ready("balsa-1")
        pushed_while_down = len(load.acked)
        time.sleep(5)
        assert len(load.acked) > pushed_while_down, "pushes stopped while one node was down"
        # `docker kill` counts as a manual stop, so the restart policy leaves
        # the container down; an operator (or kubelet) starts it again.
        cluster.compose("up", "-d", "--no-recreate", "balsa-1")
        cluster.wait_ready(["balsa-1"])
        time.sleep(3)
        if os.geteuid() == 0:
            # A crash, as the restart policy sees one: SIGKILL from outside
            # docker. `restart: unless-stopped` brings the container back.
            pid = cluster.inspect("balsa-0", "{{.State.Pid}}")
            _run(["kill", "-9", pid])
            deadline = time.time() + 60
            while cluster.inspect("balsa-0", "{{.RestartCount}}") == "0":
                assert time.time() < deadline, "the restart policy did not restart balsa-0"
                time.sleep(0.5)
            cluster.wait_ready(["balsa-0"])
            time.sleep(3)
        else:
            print("SKIPPED: the crash half of this test needs root to SIGKILL a container's process")
    assert load.failed == [], f"{len(load.failed)} pushes failed"
    print(f"kill: {len(load.acked)} lines acknowledged, {load.retries} retries")
    assert_converged(cluster, "kill", load.acked, load.attempted)


def test_rolling_restart_under_load_loses_nothing(cluster):
    with Load(cluster, "rolling") as load:
        for node in reversed(NODES):
            before = len(load.acked)
            _run(["docker", "restart", "-t", "60", cluster.container(node)])
            cluster.wait_ready([node])
            time.sleep(2)
            assert len(load.acked) > before, f"no push acknowledged while {node} restarted"
    assert load.failed == [], f"{len(load.failed)} pushes failed"
    print(f"rolling restart: {len(load.acked)} lines acknowledged, {load.retries} retries")
    assert_converged(cluster, "rolling", load.acked, load.attempted)


def _in_netns(pid, code):
    """Runs python `code` inside a container's network namespace (the host
    cannot reach a container that has no network)."""
    r = _run(["nsenter", "-t", str(pid), "-n", "--", "python3", "-c", code], check=False, timeout=120)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def test_network_disconnect_refuses_writes_then_converges(cluster):
    if os.geteuid() != 0 or not shutil.which("nsenter"):
        _skip("the network-disconnect test needs root and nsenter to reach the cut-off container")
    node = "balsa-2"
    pid = cluster.inspect(node, "{{.State.Pid}}")
    others = ["balsa-0", "balsa-1"]
    since = str(int(time.time()))
    with Load(cluster, "partition", nodes=others) as load:
        _run(["docker", "network", "disconnect", cluster.network, cluster.container(node)])
        try:
            ts = time.time_ns()
            body = json.dumps({"streams": [{"stream": {"job": "containers", "test": "partition"},
                                            "values": [[str(ts), "pushed to the cut-off node"]]}]})
            code = (
                "import requests, time\n"
                f"body = {body!r}\n"
                "deadline = time.time() + 60\n"
                "while True:\n"
                "    try:\n"
                "        r = requests.post('http://127.0.0.1:3100/loki/api/v1/push', data=body,\n"
                "                          headers={'Content-Type': 'application/json'}, timeout=30)\n"
                "        print(r.status_code, r.text.strip()[:200])\n"
                "        if r.status_code == 503 or time.time() > deadline: break\n"
                "    except requests.RequestException as e:\n"
                "        print('error', e)\n"
                "        if time.time() > deadline: break\n"
                "    time.sleep(1)\n"
            )
            rc, out, err = _in_netns(pid, code)
            assert rc == 0, err
            assert out.splitlines()[-1].startswith("503"), f"the cut-off node answered: {out}"
            before = len(load.acked)
            time.sleep(5)
            assert len(load.acked) > before + 10, "the two connected nodes stopped taking writes"
            for n in others:
                assert "partition line 0" in query_lines(cluster.url(n), "partition")
        finally:
            _run(["docker", "network", "connect", "--alias", node, cluster.network, cluster.container(node)])
        cluster.wait_ready([node])
        time.sleep(3)
    assert load.failed == [], f"{len(load.failed)} pushes failed"
    print(f"partition: {len(load.acked)} lines acknowledged, {load.retries} retries")
    # The outage is logged once each way, not once per group and retry.
    log = _run(["docker", "logs", "--since", since, cluster.container("balsa-0")]).stderr
    assert log.count("peer unreachable") == 1, log[-3000:]
    assert log.count("peer reachable") == 1, log[-3000:]
    assert len(log.splitlines()) < 200, f"{len(log.splitlines())} log lines during the partition:\n{log[-3000:]}"
    assert_converged(cluster, "partition", load.acked, load.attempted | {"pushed to the cut-off node"})


def test_node_with_a_lost_volume_is_rebuilt(cluster):
    node = "balsa-2"
    # SIGTERM to PID 1 (balsa itself): a clean exit well within the grace period.
    started = time.time()
    cluster.compose("stop", "-t", "60", node)
    took = time.time() - started
    assert cluster.inspect(node, "{{.State.ExitCode}}") == "0", cluster.logs([node], tail=20)
    assert took < 40, f"docker stop took {took:.1f}s"
    assert "balsa stopped" in cluster.logs([node], tail=20)
    print(f"stop on SIGTERM: {took:.1f}s, exit code 0")
    cluster.compose("rm", "-f", node)
    _run(["docker", "volume", "rm", f"{cluster.project}_data-2"])
    with Load(cluster, "rebuild", nodes=["balsa-0", "balsa-1"]) as load:
        cluster.compose("up", "-d", node)
        cluster.wait_ready([node], timeout=240)
    assert load.failed == []
    ACKED["rebuild"] = set(load.acked)
    # The rebuilt node serves every line acknowledged in this module.
    for test, lines in ACKED.items():
        got = set(query_lines(cluster.url(node), test))
        assert lines <= got, f"{test}: the rebuilt node lacks {len(lines - got)} of {len(lines)} lines"
    assert_converged(cluster, "rebuild", load.acked, load.attempted)


def test_cluster_restored_from_one_stopped_nodes_copy(cluster, tmp_path):
    """docs/operations.md, "Backing up": a file copy of one stopped node is a
    backup of the whole cluster; restored into node 0 of a new cluster whose
    other volumes are empty, every node serves every line again."""
    if os.geteuid() != 0:
        _skip("the restore test needs root to unpack into a docker volume's directory")
    backup = tmp_path / "balsa-1.tar"
    cluster.compose("stop", "-t", "60", "balsa-1")
    with open(backup, "wb") as out:
        subprocess.run(["docker", "cp", "-a", f"{cluster.container('balsa-1')}:/var/lib/balsa", "-"],
                       stdout=out, check=True, timeout=300)
    cluster.compose("start", "balsa-1")
    cluster.wait_ready(["balsa-1"])
    # Every line acknowledged so far was on balsa-1's disk when it stopped
    # (it was ready, so caught up, and stopping hands leadership over first).
    expected = {test: set(lines) for test, lines in ACKED.items()}

    cluster.compose("down", "-v", "-t", "30")
    cluster.compose("up", "--no-start")
    # docker cp cannot write into a container whose root filesystem is
    # read-only, nor keep the non-root owner of what it writes (`-a` looks
    # `10001:10001` up in a passwd database): unpack into the new volume's
    # directory on the host, as root, keeping the numeric owners.
    volume = _run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", f"{cluster.project}_data-0"]).stdout.strip()
    _run(["tar", "-C", volume, "-xpf", str(backup), "--strip-components=1", "--numeric-owner"])
    cluster.compose("up", "-d")
    cluster.wait_ready(timeout=240)
    for node in NODES:
        for test, lines in expected.items():
            got = set(query_lines(cluster.url(node), test))
            assert lines <= got, f"{node}/{test}: {len(lines - got)} of {len(lines)} lines not restored"
