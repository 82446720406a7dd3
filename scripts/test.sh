#!/usr/bin/env bash
# Runs the whole NodeFleet test suite (unit and integration) on a Debian 12 machine.
# Installs what the tests need when it is missing (needs root for apt-get), then builds and tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
  exit 1
fi

# Debian packages the tests use: real components, started privately by the tests' own fixtures.
packages=(containerd docker.io docker-registry skopeo umoci busybox-static
          # the PostgreSQL store's tests start a private cluster from its server binaries (initdb, pg_ctl)
          postgresql
          # the rollout gate tests start a private Prometheus that scrapes a test exporter
          prometheus
          # packaging tests: Native AOT, .deb/.rpm building and linting, a booted systemd container
          clang zlib1g-dev binutils rpm lintian rpmlint systemd-container debootstrap)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "==> Restoring and building"
dotnet build NodeFleet.sln -c Release -nologo -v quiet -clp:ErrorsOnly
echo "==> Testing"
dotnet test NodeFleet.sln -c Release --no-build -nologo --logger "console;verbosity=normal" "$@"
