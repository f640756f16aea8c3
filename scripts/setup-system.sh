#!/usr/bin/env bash
# Installs the Debian packages that biotwin's features and tests need, only when missing.
# Runs as part of `make demo` / `make test`; safe to run again.
set -euo pipefail
# Debian packages the features and tests need (features append here).
PKGS=()
PKGS+=(mosquitto)  # MQTT broker of the Sparkplug B tests (biotwin plant / ingest mqtt)
# shellcheck disable=SC2206
PKGS+=(${BIOTWIN_EXTRA_APT_PACKAGES:-})
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
