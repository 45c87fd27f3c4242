#!/usr/bin/env bash
# The peer benchmark's OpenTelemetry Collector (bench/peers/builder-config.yaml: OTLP receiver, file
# exporter), built and cached by scripts/build-collector.sh. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export COGNIVE_OTELCOL_MANIFEST="$here/builder-config.yaml"
export COGNIVE_OTELCOL_DIR="${COGNIVE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cognive/peers}/otelcol-file-0.165.0"
exec "$here/../../scripts/build-collector.sh" "$@"
