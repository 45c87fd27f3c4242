#!/usr/bin/env bash
# Builds a stock OpenTelemetry Collector (core components only, examples/collector/builder-config.yaml;
# or the manifest COGNIVE_OTELCOL_MANIFEST names) with the official builder from the Go module proxy,
# into a cache outside the repository. Prints the binary's path. Skips the build when the cached
# binary exists; `--path` only prints it.
set -euo pipefail
VERSION=0.165.0
root="$(cd "$(dirname "$0")/.." && pwd)"
manifest="${COGNIVE_OTELCOL_MANIFEST:-$root/examples/collector/builder-config.yaml}"
name="$(sed -n 's/^  name: *//p' "$manifest" | head -n 1)"
dir="${COGNIVE_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cognive/otelcol-$VERSION}"
bin="$dir/$name"
if [ "${1:-}" = "--path" ]; then
  echo "$bin"
  exit 0
fi
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-collector: go is not installed" >&2; exit 1; }
mkdir -p "$dir"
export GOBIN="$dir/tools"
go install "go.opentelemetry.io/collector/cmd/builder@v$VERSION" >&2
# The builder writes the generated sources and the binary into output_path; build into a temporary
# folder and move the binary into place last, so an interrupted build is never taken as cached.
work="$(mktemp -d "$dir/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if ! "$GOBIN/builder" --config "$manifest" --output-path "$work" >&2; then
  # The builder's `go mod tidy` also fetches its components' test-only dependencies, which a module
  # proxy may refuse (one did, for the contrib file exporter's); the binary needs none of them.
  echo "build-collector: the builder failed; tidying without test-only modules and building" >&2
  (cd "$work" && go mod tidy -e -compat=1.25 >&2 && go build -trimpath -ldflags="-s -w" -o "$name" . >&2)
fi
mv "$work/$name" "$bin"
echo "$bin"
