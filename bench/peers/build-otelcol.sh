#!/usr/bin/env bash
# Builds the peer benchmark's OpenTelemetry Collector (bench/peers/builder-config.yaml: OTLP receiver,
# file exporter) with the official builder from the Go module proxy, into a cache outside the
# repository, as scripts/build-collector.sh does. Prints the binary's path; skips a cached build.
set -euo pipefail
VERSION=0.165.0
here="$(cd "$(dirname "$0")" && pwd)"
dir="${COGNIVE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cognive/peers}/otelcol-file-$VERSION"
bin="$dir/otelcol-file"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-otelcol: go is not installed" >&2; exit 1; }
mkdir -p "$dir"
export GOBIN="$dir/tools"
go install "go.opentelemetry.io/collector/cmd/builder@v$VERSION" >&2
# Build into a temporary folder and move the binary into place last: an interrupted build is never cached.
work="$(mktemp -d "$dir/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if ! "$GOBIN/builder" --config "$here/builder-config.yaml" --output-path "$work" >&2; then
  # The builder's `go mod tidy` also fetches the file exporter's test-only dependencies, which a module
  # proxy may refuse (one did: otlpencodingextension); the binary needs none of them.
  echo "build-otelcol: the builder failed; tidying without test-only modules and building" >&2
  (cd "$work" && go mod tidy -e -compat=1.25 >&2 && go build -trimpath -ldflags="-s -w" -o otelcol-file . >&2)
fi
mv "$work/otelcol-file" "$bin"
echo "$bin"
