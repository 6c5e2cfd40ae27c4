#!/usr/bin/env bash
# Installs what the test suite needs beyond Python packages: Debian's chromium (the browser Playwright
# drives; Playwright cannot download its own here), what tests/server/test_deploy.py runs the deploy/ kit with
# (Debian's nginx and openssl for the nginx site, systemd-analyze for the units, sqlite3 for the backup
# step of docs/deploy.md) and axe-core from npm (pinned in package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-liberation)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -x /usr/bin/systemd-analyze ] || need_apt+=(systemd)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
# What scripts/deploy-single-server.sh finds installed, as step 1 of docs/deploy.md installs it, and runs
# the steps with (ip, for the rehearsal's own loopback).
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v pg_dump >/dev/null 2>&1 || need_apt+=(postgresql-client)
dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed' || need_apt+=(python3-venv)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install-test-deps: please install these Debian packages: ${need_apt[*]}" >&2
    exit 1
  fi
fi
if [ ! -f node_modules/axe-core/axe.min.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
fi
