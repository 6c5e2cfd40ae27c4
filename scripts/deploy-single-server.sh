#!/usr/bin/env bash
# Rehearses the single-server deployment of docs/deploy.md on this machine: every shell block the guide
# marks <!-- step --> (its numbered steps, nginx, the backup, a restore and the uninstall included), in the
# guide's order and as written, as root, with the shipped files unchanged. Nothing on the machine changes:
# the steps run in namespaces of their own (unshare: mount, network, process), where /etc, /var and /opt are
# overlays whose changes land in WORKDIR/root/{etc,var,opt}, /run is empty, and the network is a loopback
# of its own (so the guide's ports 80, 443 and 8000 are free and nothing is reached outside). What stands
# in for the rest of a Debian server: scripts/rehearsal/systemctl (runs the installed unit files: User=,
# Environment=, EnvironmentFile=, UMask=, Type=notify, ExecReload=...; no sandboxing, no real timers),
# scripts/rehearsal/apt-get (checks the packages are installed, downloads nothing), the County's DNS (a
# line in /etc/hosts) and its certificate (a self-signed one, trusted by curl through CURL_CA_BUNDLE).
# tests/server/test_packaging.py runs it, so the guide cannot drift from what works.
#
#   scripts/deploy-single-server.sh [--wheel FILE] [WORKDIR]
#
# Needs root (namespaces, useradd in the overlay), unshare, and Debian's nginx. WORKDIR (default: a new
# temporary folder) gets release/ (deploy/, docs/ and dist/ with the wheel, built from this checkout
# unless --wheel names one), root/, steps.sh (the guide's steps as run) and steps.log. The first console
# account's password is given on standard input (the steps run without a terminal). No network: pip is
# told to use no index, and the dependencies come from this checkout's environment ($PYTHON, default
# .venv/bin/python) through a .pth file in the new virtual environment; linkgate itself is installed from
# the wheel, as the guide says.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$checkout/.venv/bin/python}"
PASSWORD="rehearsal password 1234"
PUBLIC_NAME="links.missoulacounty.us"

wheel=""
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$(realpath "$2")"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) work="$1"; shift ;;
  esac
done
say() { echo "deploy-single-server: $*"; }
if [ "$(id -u)" != 0 ]; then
  say "the steps run as root (in namespaces of their own: nothing on this machine changes); run it as root" >&2
  exit 2
fi
for program in unshare /usr/sbin/nginx openssl dpkg-query runuser useradd; do
  command -v "$program" >/dev/null || { say "$program is needed" >&2; exit 2; }
done
work="$(realpath "${work:-$(mktemp -d -t linkgate-deploy.XXXXXX)}")"
release="$work/release"
root="$work/root"
mkdir -p "$release/dist" "$work/home"
for folder in etc var opt; do mkdir -p "$root/$folder" "$work/overlay-work/$folder"; done

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

# The dependencies, without linkgate itself (and without pip, which the new venv has its own of): links
# into $PYTHON's site-packages, copied into the overlay's /opt, where the service's account can read them.
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

# The guide's steps, as written (a step inside a list is indented: the indentation is taken off).
"$PYTHON" - "$checkout/docs/deploy.md" > "$work/steps.sh" <<'EOF'
import re, sys, textwrap
guide = sys.argv[1]
text = open(guide, encoding="utf-8").read()
blocks = [
    textwrap.dedent(indent + body).lstrip(" ")
    for indent, body in re.findall(r"^([ \t]*)<!-- step -->\n[ \t]*```sh\n(.*?)^[ \t]*```$", text, re.M | re.S)
]
if not blocks:
    sys.exit(f"no <!-- step --> blocks in {guide}")
print("set -euo pipefail")
for number, block in enumerate(blocks, 1):
    print(f"echo '--- step {number} of {len(blocks)}'\nset -x\n{block}set +x")
EOF
say "running $(grep -c '^echo .--- step' "$work/steps.sh") steps of docs/deploy.md in $work"

# Inside the namespaces: the machine as County IT finds it after installing Debian (with the overlays),
# then the steps.
cat > "$work/rehearse.sh" <<EOF
set -euo pipefail
mount --make-rprivate /
for folder in etc var opt; do
  mount -t overlay overlay -o "lowerdir=/\$folder,upperdir=$root/\$folder,workdir=$work/overlay-work/\$folder" "/\$folder"
done
mount -t tmpfs -o mode=0755 tmpfs /run
ip link set lo up
echo "127.0.0.1 $PUBLIC_NAME" >> /etc/hosts
install -d -m 0755 /etc/systemd/system /etc/ssl/certs
install -d -m 0700 /etc/ssl/private
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$PUBLIC_NAME" \\
  -addext "subjectAltName=DNS:$PUBLIC_NAME" -keyout /etc/ssl/private/$PUBLIC_NAME.key \\
  -out /etc/ssl/certs/$PUBLIC_NAME.pem 2>/dev/null
chmod 0600 /etc/ssl/private/$PUBLIC_NAME.key
install -d /opt/linkgate-rehearsal
cp -a "$work/deps" /opt/linkgate-rehearsal/dependencies
python3 -m venv --without-pip /opt/linkgate/venv
purelib="\$(/opt/linkgate/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo /opt/linkgate-rehearsal/dependencies > "\$purelib/linkgate-rehearsal-dependencies.pth"
# The one console script of a dependency the guide runs (the unit's ExecStart), as pip would have made it.
printf '#!/opt/linkgate/venv/bin/python\nimport sys\nfrom gunicorn.app.wsgiapp import run\nsys.exit(run())\n' \
  > /opt/linkgate/venv/bin/gunicorn
chmod 0755 /opt/linkgate/venv/bin/gunicorn
cd "$release"
. "$work/steps.sh"
EOF

# A clean environment: no LINKGATE_* of the caller's. setsid: no terminal, so that create-admin reads its
# password from standard input. The namespaces' first process is the steps' shell: when it ends, the kernel
# ends whatever they started (the service, nginx).
printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" > "$work/answers"
env -i PATH="$checkout/scripts/rehearsal:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  HOME="$work/home" LANG=C.UTF-8 CURL_CA_BUNDLE="/etc/ssl/certs/$PUBLIC_NAME.pem" \
  PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
  setsid unshare --mount --net --pid --fork --mount-proc bash "$work/rehearse.sh" < "$work/answers" \
  > >(tee "$work/steps.log") 2>&1 &
steps=$!
trap 'kill -KILL -- "-$steps" 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
wait "$steps"
say "every step passed"
