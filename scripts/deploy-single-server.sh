#!/usr/bin/env bash
# Rehearses the single-server deployment of docs/deploy.md on this machine, without root: every shell
# block the guide marks <!-- step -->, in the guide's order and as written, with the server's folders
# moved under WORKDIR/root (/opt/linkgate, /etc/linkgate, /var/lib/linkgate, /var/backups/linkgate) and
# port 8000 moved to a free one. tests/server/test_packaging.py runs it, so the guide cannot drift from what works.
#
#   scripts/deploy-single-server.sh [--wheel FILE] [WORKDIR]
#
# WORKDIR (default: a new temporary folder) gets release/ (deploy/, docs/ and dist/ with the wheel,
# built from this checkout unless --wheel names one), root/, steps.sh (the guide's steps as run) and
# steps.log. The first console account's password is given on standard input (the steps run without a
# terminal). No network: pip is told to use no index, and the dependencies come from this checkout's
# environment ($PYTHON, default .venv/bin/python) through a .pth file in the new virtual environment;
# linkgate itself is installed from the wheel, as the guide says.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$checkout/.venv/bin/python}"
PASSWORD="rehearsal password 1234"

wheel=""
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$(realpath "$2")"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) work="$1"; shift ;;
  esac
done
work="$(realpath "${work:-$(mktemp -d -t linkgate-deploy.XXXXXX)}")"
release="$work/release"
root="$work/root"
mkdir -p "$release/dist" "$root" "$work/home"
say() { echo "deploy-single-server: $*"; }

# The steps use the machine's python3 and the dependencies come from $PYTHON: one Python version.
wanted="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
found="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$wanted" != "$found" ]; then
  say "python3 is $found but $PYTHON is $wanted: the rehearsal needs the same version" >&2
  exit 2
fi

# The release: what County IT is handed.
cp -r "$checkout/deploy" "$checkout/docs" "$release/"
if [ -n "$wheel" ]; then
  cp "$wheel" "$release/dist/"
else
  say "building the wheel"
  "$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$release/dist" "$checkout"
fi

# The dependencies, without linkgate itself (and without pip, which the new venv has its own of).
"$PYTHON" - "$work/deps" <<'EOF'
import os, re, sys, sysconfig
target = sys.argv[1]
os.makedirs(target, exist_ok=True)
skip = re.compile(r"(linkgate|__editable__|_linkgate|pip|setuptools|wheel|_distutils_hack|distutils-precedence)\b", re.I)
for folder in dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib")):
    for name in os.listdir(folder):
        if not skip.match(name) and not name.endswith(".pth") and not os.path.exists(os.path.join(target, name)):
            os.symlink(os.path.join(folder, name), os.path.join(target, name))
EOF
venv="$root/opt/linkgate/venv"
python3 -m venv --without-pip "$venv"
purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$work/deps" > "$purelib/linkgate-rehearsal-dependencies.pth"

# The guide's steps, with the server's folders and port moved.
port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PYTHON" - "$checkout/docs/deploy.md" "$root" "$port" > "$work/steps.sh" <<'EOF'
import re, sys
guide, root, port = sys.argv[1], sys.argv[2], sys.argv[3]
blocks = re.findall(r"^<!-- step -->\n```sh\n(.*?)^```$", open(guide, encoding="utf-8").read(), re.M | re.S)
if not blocks:
    sys.exit(f"no <!-- step --> blocks in {guide}")
print("set -euo pipefail")
for number, block in enumerate(blocks, 1):
    for folder in ("/opt/linkgate", "/etc/linkgate", "/var/lib/linkgate", "/var/backups/linkgate"):
        block = block.replace(folder, root + folder)
    block = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    print(f"echo '--- step {number} of {len(blocks)}'\nset -x\n{block}set +x")
EOF
say "running $(grep -c '^echo .--- step' "$work/steps.sh") steps of docs/deploy.md in $work"

# A clean environment: no LINKGATE_* of the caller's; the port and an offline resolver for the server.
# setsid: no terminal, so that create-admin reads its password from standard input, and one process
# group to stop whatever a failing step left running.
printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" > "$work/answers"
cd "$release"
env -i PATH="$PATH" HOME="$work/home" LANG=C.UTF-8 \
  LINKGATE_SERVER_PORT="$port" LINKGATE_FETCH_SYSTEM_RESOLVER=false \
  PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
  setsid bash "$work/steps.sh" < "$work/answers" > >(tee "$work/steps.log") 2>&1 &
steps=$!
trap 'kill -TERM -- "-$steps" 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
wait "$steps"
say "every step passed"
