#!/usr/bin/env bash
# Installs kustomize (the same builder as `kubectl apply -k`) from the Go module proxy into a cache
# outside the repository, for the deploy/kubernetes test. Prints the binary's path; `--path` only prints it.
set -euo pipefail
VERSION=5.7.1
dir="${COGNIVE_KUSTOMIZE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cognive/kustomize-$VERSION}"
bin="$dir/kustomize"
if [ "${1:-}" = "--path" ] || [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-kustomize: go is not installed" >&2; exit 1; }
mkdir -p "$dir"
GOBIN="$dir" go install "sigs.k8s.io/kustomize/kustomize/v5@v$VERSION" >&2
echo "$bin"
