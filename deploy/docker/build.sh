#!/usr/bin/env bash
# Builds the balsa container image without pulling anything: FROM scratch,
# holding the release binary, exactly the shared libraries `ldd` lists for it,
# the CA bundle (S3 over TLS), an empty /tmp, a data directory owned by the
# non-root user 10001, and a default single-node config.
#
#   deploy/docker/build.sh [TAG]          # default tag balsa:dev
#   BALSA_BIN=target/debug/balsa deploy/docker/build.sh balsa:test
#
# BALSA_BIN wraps a binary that is already built instead of building the
# release one (the container tests do so with the suite's debug build; debug
# symbols are stripped from the image's copy either way).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-balsa:dev}"

if [ -z "${BALSA_BIN:-}" ]; then
  bash deploy/dev/setup.sh
  cargo build --release -p balsa-node --bin balsa
  BALSA_BIN=target/release/balsa
fi
[ -x "$BALSA_BIN" ] || { echo "build.sh: no executable at $BALSA_BIN" >&2; exit 1; }
command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$ca" ]; then
  echo "build.sh: installing ca-certificates with apt-get" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ca-certificates >/dev/null
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/balsa-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/etc/ssl/certs" "$root/etc/balsa" "$root/tmp" "$ctx/data"
chmod 1777 "$root/tmp"

# The binary, without debug sections (they are most of a debug build's size).
objcopy --strip-debug "$BALSA_BIN" "$root/balsa"
chmod 0755 "$root/balsa"

# Every library the dynamic loader needs, at the path ldd resolves it to, and
# the loader itself. glibc 2.34+ has the files and dns NSS modules built in, so
# peer names resolve without libnss_* (the container tests resolve balsa-1).
ldd "$BALSA_BIN" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]+/ {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if ldd "$BALSA_BIN" | grep -q 'not found'; then
  echo "build.sh: ldd cannot resolve every library of $BALSA_BIN" >&2; exit 1
fi

cp -L "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/nonexistent\nbalsa:x:10001:10001:balsa:/var/lib/balsa:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\nbalsa:x:10001:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
cat >"$root/etc/balsa/balsa.yaml" <<'YAML'
# A single node with its data on the volume at /var/lib/balsa. Mount your own
# config (a Loki config works) over this file, or pass flags after the image.
common:
  path_prefix: /var/lib/balsa
YAML

cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
COPY --chown=10001:10001 data/ /var/lib/balsa/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 10001:10001
WORKDIR /var/lib/balsa
VOLUME ["/var/lib/balsa"]
EXPOSE 3100 9095
HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/balsa", "-health-check", "-config.file=/etc/balsa/balsa.yaml"]
ENTRYPOINT ["/balsa"]
CMD ["-config.file=/etc/balsa/balsa.yaml"]
DOCKERFILE

# Fixed timestamps: the same binary gives the same layers.
find "$ctx" -exec touch -h -d @0 {} +
# The legacy builder: it needs no BuildKit frontend image from a registry.
if ! out="$(DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" 2>&1)"; then
  echo "$out" >&2; exit 1
fi
size="$(docker image inspect -f '{{.Size}}' "$tag")"
echo "built $tag: $((size / 1024 / 1024)) MiB ($(ls "$root"/lib*/*/* "$root"/lib64/* 2>/dev/null | wc -l) shared libraries)"
