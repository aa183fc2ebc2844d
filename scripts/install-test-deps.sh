#!/usr/bin/env bash
# Debian packages the test suite runs for real (as root, on Debian 12): lspci for the benchmark,
# dbus-daemon + busctl + gdbus for the D-Bus tests, systemd-analyze/systemd-notify, setpriv, man;
# promtool (package prometheus) and prometheus-node-exporter validate and scrape our metrics.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  pciutils pci.ids dbus libglib2.0-bin systemd python3 util-linux man-db groff-base \
  prometheus prometheus-node-exporter >/dev/null
