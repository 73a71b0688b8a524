#!/usr/bin/env bash
# Installs what building and testing balsa needs, if it is missing:
# libclang (bindgen for librocksdb-sys), a C/C++ toolchain, and the Python
# packages of the client tests. Safe to run again: it only installs what is absent.
set -euo pipefail

need_apt=()
# libclang-cpp is a different library: bindgen needs libclang.so or libclang-N.so
# in any one of these places (ls fails if any pattern matches nothing, so each is tried alone).
have_libclang=0
for pattern in '/usr/lib/llvm-*/lib/libclang.so*' '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' \
  '/usr/lib/*-linux-gnu/libclang.so*' '/usr/lib/*-linux-gnu/libclang-[0-9]*.so*'; do
  compgen -G "$pattern" >/dev/null && have_libclang=1
done
[ "$have_libclang" = 1 ] || need_apt+=(libclang-dev clang)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
# jepsen/: network namespaces, blackhole partitions, and per-node clock skew.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(faketime)
# The ruler's tests start the real Alertmanager and Prometheus (remote-write
# receiver); only the test setup needs them (run-node.sh sets BALSA_SETUP_PYTHON=0).
if [ "${BALSA_SETUP_PYTHON:-1}" = "1" ]; then
  command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
  command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust from your distribution or rustup first" >&2
  exit 1
fi

if [ "${BALSA_SETUP_PYTHON:-1}" = "1" ]; then
  if ! python3 -c 'import logging_loki, loki_logger_handler, pytest, requests' >/dev/null 2>&1; then
    echo "setup: installing python test packages with pip" >&2
    python3 -m pip install -q --disable-pip-version-check python-logging-loki loki-logger-handler pytest requests
  fi
  # The OpenTelemetry SDK and its OTLP/HTTP log exporter: the real client of
  # node/tests/python/test_otlp.py.
  if ! python3 -c 'import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http' >/dev/null 2>&1; then
    echo "setup: installing the OpenTelemetry SDK and OTLP/HTTP exporter with pip" >&2
    python3 -m pip install -q --disable-pip-version-check opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
  fi
  # kubernetes-validate: the deploy tests check the rendered manifests against
  # Kubernetes' schemas offline (kubectl cannot validate without a cluster).
  if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
    echo "setup: installing kubernetes-validate (manifest checks) with pip" >&2
    python3 -m pip install -q --disable-pip-version-check kubernetes-validate
  fi
  # The container tests (deploy/tests) need a running Docker daemon; start an
  # installed one that is stopped, if we may. Without one they say SKIPPED.
  if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "setup: starting the docker daemon for the container tests" >&2
    service docker start >/dev/null 2>&1 || (nohup dockerd >/tmp/dockerd.log 2>&1 &)
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  # moto_server: the real S3 server the tiering tests start.
  if ! command -v moto_server >/dev/null 2>&1 && ! python3 -c 'import moto.server, flask_cors' >/dev/null 2>&1; then
    echo "setup: installing moto[server] (S3 for the tiering tests) with pip" >&2
    python3 -m pip install -q --disable-pip-version-check 'moto[server]'
  fi
fi
