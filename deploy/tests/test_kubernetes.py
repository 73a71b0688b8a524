"""deploy/kubernetes: renders, passes kubernetes-validate --strict, hangs together,
and its balsa.yaml and rule files are accepted by the real balsa binary.

Run from the repository root: python3 -m pytest -q deploy/tests/test_kubernetes.py
(TEST_BALSA_BIN names the binary, default target/debug/balsa). Needs kubectl
(for `kubectl kustomize`, offline) and the PyPI package kubernetes-validate.
"""

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUSTOMIZE_DIR = os.path.join(ROOT, "deploy", "kubernetes")
# The oldest Kubernetes the manifests target (persistentVolumeClaimRetentionPolicy
# is GA in 1.32) and the newest the installed kubernetes-validate knows.
OLDEST_K8S = "1.32"


def loud_skip(why):
    # A skip must be seen: -q only counts skips, but warnings are always summarised.
    msg = f"SKIPPED: {why}"
    print(msg, file=sys.stderr)
    warnings.warn(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def objs():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        loud_skip("kubectl not available, deploy/kubernetes was not rendered or checked")
    out = subprocess.run([kubectl, "kustomize", KUSTOMIZE_DIR], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def balsa_bin():
    binary = os.environ.get("TEST_BALSA_BIN", os.path.join(ROOT, "target", "debug", "balsa"))
    if not os.path.exists(binary):
        pytest.fail(f"balsa binary not found at {binary}; build it first (cargo build -p balsa-node --bin balsa)")
    return binary


# --- reading the rendered objects --------------------------------------------


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def configmap_for(objs, base):
    """The generated ConfigMap `base-<hash>`."""
    found = [o for o in find(objs, "ConfigMap") if re.fullmatch(re.escape(base) + r"-[a-z0-9]{10}", o["metadata"]["name"])]
    return found[0] if len(found) == 1 else None


def volume_files(objs, volume, problems):
    """{relative path: content} of a configMap or projected volume, as the
    kubelet writes it; references to missing ConfigMaps or keys go to problems."""
    sources = [volume["configMap"]] if "configMap" in volume else [
        s["configMap"] for s in volume.get("projected", {}).get("sources", []) if "configMap" in s]
    files = {}
    for src in sources:
        cms = find(objs, "ConfigMap", src["name"])
        if not cms:
            problems.append(f"volume {volume['name']}: ConfigMap {src['name']} is not rendered")
            continue
        data = cms[0].get("data", {})
        for item in src.get("items") or [{"key": k, "path": k} for k in data]:
            if item["key"] not in data:
                problems.append(f"volume {volume['name']}: ConfigMap {src['name']} has no key {item['key']}")
            else:
                files[item["path"]] = data[item["key"]]
    return files


def pod_files(objs, problems):
    """{absolute path in the pod: content} of every ConfigMap-backed mount."""
    spec = find(objs, "StatefulSet")[0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    files = {}
    for m in spec["containers"][0].get("volumeMounts", []):
        v = volumes.get(m["name"])
        if v and ("configMap" in v or "projected" in v):
            for rel, text in volume_files(objs, v, problems).items():
                files[os.path.join(m["mountPath"], rel)] = text
    return files


def seconds(d):
    """A Go/Prometheus duration ("30s", "1m30s") in seconds."""
    if isinstance(d, (int, float)):
        return d
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", d)
    assert parts and "".join(n + u for n, u in parts) == d, f"unparsed duration {d!r}"
    return sum(float(n) * units[u] for n, u in parts)


def check(objs):
    """Cross-object consistency kubernetes-validate cannot see; returns problems."""
    p = []
    stss = find(objs, "StatefulSet", "balsa")
    if len(stss) != 1:
        return ["no StatefulSet balsa"]
    sts = stss[0]
    spec = sts["spec"]
    pod = spec["template"]
    labels = pod["metadata"].get("labels", {})
    podspec = pod["spec"]
    c = podspec["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in c.get("ports", [])}

    def selects(sel, what):
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            p.append(f"{what}: selector {sel} does not select the pods (labels {labels})")

    if set(spec["selector"]) != {"matchLabels"}:
        p.append("StatefulSet: selector must be plain matchLabels")
    selects(spec["selector"].get("matchLabels"), "StatefulSet")
    if spec.get("podManagementPolicy") != "Parallel":
        p.append("StatefulSet: podManagementPolicy must be Parallel (OrderedReady deadlocks a cold start)")
    if spec.get("updateStrategy", {}).get("type", "RollingUpdate") != "RollingUpdate":
        p.append("StatefulSet: updateStrategy must be RollingUpdate")
    if spec.get("persistentVolumeClaimRetentionPolicy") != {"whenDeleted": "Retain", "whenScaled": "Retain"}:
        p.append("StatefulSet: persistentVolumeClaimRetentionPolicy must be Retain/Retain")

    # Services and PDB.
    for svc in find(objs, "Service"):
        selects(svc["spec"].get("selector"), f"Service {svc['metadata']['name']}")
        for sp in svc["spec"].get("ports", []):
            tp = sp.get("targetPort", sp["port"])
            if (isinstance(tp, str) and tp not in ports) or (isinstance(tp, int) and tp not in ports.values()):
                p.append(f"Service {svc['metadata']['name']}: targetPort {tp} is not a container port")
    headless = find(objs, "Service", spec.get("serviceName"))
    if not headless:
        p.append(f"StatefulSet: serviceName {spec.get('serviceName')} is not a rendered Service")
    else:
        hs = headless[0]["spec"]
        if hs.get("clusterIP") != "None":
            p.append("headless Service: clusterIP must be None")
        if hs.get("publishNotReadyAddresses") is not True:
            p.append("headless Service: publishNotReadyAddresses must be true (peers resolve before Ready)")
        if {sp.get("targetPort") for sp in hs.get("ports", [])} != {"http", "grpc"}:
            p.append("headless Service: must expose http and grpc")
    client = find(objs, "Service", "balsa")
    if not client or client[0]["spec"].get("clusterIP") == "None" or not any(
            sp["port"] == 3100 and sp.get("name") == "http" for sp in client[0]["spec"]["ports"]):
        p.append("client Service balsa: must be a ClusterIP Service with port 3100 named http")
    pdbs = find(objs, "PodDisruptionBudget")
    if len(pdbs) != 1 or pdbs[0]["spec"].get("maxUnavailable") != 1:
        p.append("PodDisruptionBudget: need one, with maxUnavailable 1 (2 of 3 = quorum)")
    for pdb in pdbs:
        selects(pdb["spec"]["selector"].get("matchLabels"), "PodDisruptionBudget")

    # Probes.
    probes = {k: c.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    for name, probe in probes.items():
        if probe and probe.get("httpGet", {}).get("port") not in ports:
            p.append(f"{name}: port {probe.get('httpGet', {}).get('port')} is not a named container port")
    ready = (probes["readinessProbe"] or {}).get("httpGet", {})
    if ready.get("path") != "/ready" or ports.get(ready.get("port")) != 3100:
        p.append("readinessProbe: must be GET /ready on port http (3100)")
    live = (probes["livenessProbe"] or {}).get("httpGet")
    if not live or live.get("path") == "/ready":
        p.append("livenessProbe: must exist and not be /ready (a node catching up must not be killed)")
    if "preStop" in c.get("lifecycle", {}):
        p.append("container: no preStop hook (it runs on every restart)")

    # Filesystem: read-only root, writable /tmp, data on the PVC.
    volumes = {v["name"]: v for v in podspec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
        p.append("container: readOnlyRootFilesystem must be true")
    if "emptyDir" not in volumes.get(mounts.get("/tmp", {}).get("name"), {}):
        p.append("container: /tmp must be an emptyDir mount")

    # The config file and what it says.
    args = [a for a in c.get("args", []) if a.startswith("-config.file=")]
    if len(args) != 1:
        return p + ["container: needs exactly one -config.file= argument"]
    config_path = args[0].split("=", 1)[1]
    files = pod_files(objs, p)
    if config_path not in files:
        return p + [f"container: {config_path} is not in a ConfigMap mount"]
    cm = configmap_for(objs, "balsa-config")
    if cm is None or files[config_path] not in cm.get("data", {}).values():
        p.append(f"{config_path}: not from the generated ConfigMap balsa-config-<hash>")
    cfg = yaml.safe_load(files[config_path]) or {}
    server = cfg.get("server", {})
    if ports.get("http") != server.get("http_listen_port", 3100):
        p.append("container port http differs from server.http_listen_port")
    if ports.get("grpc") != server.get("grpc_listen_port", 9095):
        p.append("container port grpc differs from server.grpc_listen_port")
    want = [f"{sts['metadata']['name']}-{i}.{spec.get('serviceName')}:{ports.get('grpc')}" for i in range(spec["replicas"])]
    if cfg.get("cluster", {}).get("peers") != want:
        p.append(f"cluster.peers: {cfg.get('cluster', {}).get('peers')} but the StatefulSet needs {want}")
    prefix = cfg.get("common", {}).get("path_prefix", "./data")
    claims = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
    on = [path for path in mounts if prefix == path or prefix.startswith(path.rstrip("/") + "/")]
    if not on or mounts[max(on, key=len)]["name"] not in claims:
        p.append(f"common.path_prefix {prefix} is not on a volumeClaimTemplate mount")
    grace = podspec.get("terminationGracePeriodSeconds", 30)
    if grace <= seconds(server.get("graceful_shutdown_timeout", "30s")):
        p.append("terminationGracePeriodSeconds must exceed server.graceful_shutdown_timeout")

    # The rules directory: <dir>/<tenant>/<file>, from the generated rules ConfigMap.
    rules_dir = cfg.get("ruler_storage", {}).get("local", {}).get("directory", "")
    rules_cm = configmap_for(objs, "balsa-rules")
    rule_files = {f: t for f, t in files.items() if rules_dir and f.startswith(rules_dir.rstrip("/") + "/")}
    if not rule_files:
        p.append(f"ruler_storage.local.directory {rules_dir!r} holds no rule file from a ConfigMap")
    for f, text in rule_files.items():
        if len(os.path.relpath(f, rules_dir).split("/")) != 2:
            p.append(f"rule file {f} is not at <rules dir>/<tenant>/<file>")
        if rules_cm is None or text not in rules_cm.get("data", {}).values():
            p.append(f"rule file {f}: not from the generated ConfigMap balsa-rules-<hash>")
    return p


# --- tests -------------------------------------------------------------------


def test_renders_the_expected_objects(objs):
    kinds = sorted((o["kind"], re.sub(r"-[a-z0-9]{10}$", "-<hash>", o["metadata"]["name"])) for o in objs)
    assert kinds == [("ConfigMap", "balsa-config-<hash>"), ("ConfigMap", "balsa-rules-<hash>"),
                     ("PodDisruptionBudget", "balsa"), ("Service", "balsa"), ("Service", "balsa-headless"),
                     ("StatefulSet", "balsa")]


def test_kubernetes_validate_strict(objs):
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: run deploy/dev/setup.sh "
                    "(or python3 -m pip install 'kubernetes-validate>=1.37')")
    versions = sorted({OLDEST_K8S, kubernetes_validate.latest_version()})
    errors = []
    for version in versions:
        for o in objs:
            try:
                kubernetes_validate.validate(o, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"k8s {version} {o['kind']}/{o['metadata']['name']}: {e.message} at {list(e.path)}")
    assert not errors, "\n".join(errors)


def test_objects_hang_together(objs):
    assert check(objs) == []


def _rename_headless(objs):
    find(objs, "Service", "balsa-headless")[0]["metadata"]["name"] = "balsa-peers"


def _sts(objs):
    return find(objs, "StatefulSet")[0]["spec"]


def _container(objs):
    return _sts(objs)["template"]["spec"]["containers"][0]


def _peers_to(objs, peers):
    cm = configmap_for(objs, "balsa-config")
    cfg = yaml.safe_load(cm["data"]["balsa.yaml"])
    cfg["cluster"]["peers"] = peers
    cm["data"]["balsa.yaml"] = yaml.safe_dump(cfg)


MUTATIONS = [
    (_rename_headless, "serviceName balsa-headless is not a rendered Service"),
    (lambda o: _sts(o).update(serviceName="balsa"), "clusterIP must be None"),
    (lambda o: find(o, "Service", "balsa-headless")[0]["spec"].pop("publishNotReadyAddresses"),
     "publishNotReadyAddresses must be true"),
    (lambda o: _sts(o)["template"]["metadata"]["labels"].update({"app.kubernetes.io/name": "x"}),
     "does not select the pods"),
    (lambda o: _sts(o).update(replicas=4), "cluster.peers"),
    (lambda o: _peers_to(o, ["balsa-0.balsa-headless:9095", "balsa-1.balsa-headless:9096", "balsa-2.balsa-headless:9095"]),
     "cluster.peers"),
    (lambda o: _container(o)["ports"][1].update(containerPort=9096), "grpc differs"),
    (lambda o: _container(o)["livenessProbe"]["httpGet"].update(path="/ready"), "livenessProbe"),
    (lambda o: _container(o)["readinessProbe"]["httpGet"].update(port="metrics"), "not a named container port"),
    (lambda o: _sts(o)["persistentVolumeClaimRetentionPolicy"].update(whenScaled="Delete"), "Retain"),
    (lambda o: find(o, "PodDisruptionBudget")[0]["spec"].update(maxUnavailable=2), "maxUnavailable 1"),
    (lambda o: _container(o)["volumeMounts"].pop(2), "/tmp must be an emptyDir"),
    (lambda o: _container(o)["volumeMounts"][0].update(mountPath="/data"), "path_prefix"),
    (lambda o: _sts(o)["template"]["spec"]["volumes"][0]["projected"]["sources"][0]["configMap"].update(name="balsa-config"),
     "ConfigMap balsa-config is not rendered"),
    (lambda o: _sts(o)["template"]["spec"]["volumes"][0]["projected"]["sources"][1]["configMap"]["items"][0].update(
        path="alerts.yaml"), "holds no rule file"),
    (lambda o: _sts(o).update(podManagementPolicy="OrderedReady"), "Parallel"),
]


@pytest.mark.parametrize("mutate,expected", MUTATIONS, ids=[m[1][:40] for m in MUTATIONS])
def test_checks_catch_a_broken_manifest(objs, mutate, expected):
    broken = copy.deepcopy(objs)
    mutate(broken)
    problems = check(broken)
    assert any(expected in x for x in problems), problems


def test_balsa_verify_config_accepts_the_configmap(objs, tmp_path):
    text = configmap_for(objs, "balsa-config")["data"]["balsa.yaml"]
    path = tmp_path / "balsa.yaml"
    path.write_text(text)
    out = subprocess.run([balsa_bin(), "-verify-config", f"-config.file={path}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "config is valid" in out.stdout, out.stdout + out.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status, r.read().decode()


def test_balsa_loads_the_rule_files_as_mounted(objs, tmp_path):
    """One real node with the rendered config, its /etc/balsa laid out the way
    the kubelet writes a projected volume (..data symlinks), peers dropped."""
    problems = []
    files = pod_files(objs, problems)
    assert not problems, problems
    mount = "/etc/balsa"
    etc = tmp_path / "etc" / "balsa"
    stamp = etc / "..2026_01_01_00_00_00.000000001"
    for path, text in files.items():
        rel = os.path.relpath(path, mount)
        assert not rel.startswith(".."), f"{path} is outside {mount}"
        (stamp / rel).parent.mkdir(parents=True, exist_ok=True)
        (stamp / rel).write_text(text)
    os.symlink(stamp.name, etc / "..data")
    for top in {rel.split("/")[0] for rel in (os.path.relpath(p, mount) for p in files)}:
        os.symlink(f"..data/{top}", etc / top)

    cfg = yaml.safe_load((etc / "balsa.yaml").read_text())
    rules_dir = cfg["ruler_storage"]["local"]["directory"]
    port, grpc = _free_port(), _free_port()
    cfg["cluster"].pop("peers")
    cfg["common"]["path_prefix"] = str(tmp_path / "data")
    cfg["ruler_storage"]["local"]["directory"] = str(etc / os.path.relpath(rules_dir, mount))
    cfg["server"].update(http_listen_address="127.0.0.1", http_listen_port=port,
                         grpc_listen_address="127.0.0.1", grpc_listen_port=grpc)
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump(cfg))
    log = open(tmp_path / "balsa.log", "w")
    proc = subprocess.Popen([balsa_bin(), f"-config.file={config}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    logged = lambda: (tmp_path / "balsa.log").read_text()
    try:
        # Up, then the rule listing (404 while tenant fake has no rules).
        for path, wait in (("/ready", 60), ("/loki/api/v1/rules", 10)):
            deadline = time.time() + wait
            while True:
                try:
                    status, body = _get(url + path)
                    if status == 200:
                        break
                except OSError:
                    pass
                assert proc.poll() is None and time.time() < deadline, f"no 200 from {path}:\n{logged()}"
                time.sleep(0.1)
        # Loki's listing: tenant fake's namespaces (file names) and their groups.
        listed = yaml.safe_load(body)
        assert list(listed) == ["alerts.yaml"], body
        assert [g["name"] for g in listed["alerts.yaml"]] == ["errors"], body
        status, body = _get(url + "/prometheus/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        assert [r["name"] for g in groups for r in g["rules"]] == ["ManyErrorLines"], body
        assert all(r.get("health") != "err" for g in groups for r in g["rules"]), body
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    assert "rule file not loaded" not in logged(), logged()
