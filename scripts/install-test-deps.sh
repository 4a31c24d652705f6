#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian machine (CI has no Docker):
# PostgreSQL server binaries, Java >= 17 and Maven (for the Kafka broker jars), the Python
# package with its test extras, and the Kafka jars themselves. Safe to run repeatedly:
# every step is skipped when already satisfied (pip only re-checks, which takes seconds).
#
# Writes the Python interpreter to use into .cache/test-python (scripts/test.sh reads it):
# normally the current python3; a project .venv when the system Python is "externally
# managed" (PEP 668, Debian's own python3), where pip would refuse to install.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
step() { echo "==> install-test-deps: $*"; }

apt_updated=0
apt_update() {
    if [[ $apt_updated -eq 0 ]]; then
        step "apt-get update"
        if [[ $(id -u) -ne 0 ]]; then sudo apt-get update -q; else apt-get update -q; fi
        apt_updated=1
    fi
}
apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null; then
            sudo_cmd=(sudo)
        else
            echo "install-test-deps: need root to apt-get install $*" >&2
            exit 1
        fi
    else
        sudo_cmd=()
    fi
    apt_update
    step "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "$@"
}

# --- PostgreSQL server -----------------------------------------------------------------
if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
    step "PostgreSQL present: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
else
    # Bring the full package (not only postgresql-common) so the postgres OS user exists too.
    apt_install postgresql
fi

# --- Java >= 17 and Maven --------------------------------------------------------------
java_major() {
    # "openjdk version "17.0.15" ..." -> 17; "1.8.0_392" -> 8
    java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}
need=()
if ! command -v java >/dev/null || [[ "$(java_major)" -lt 17 ]]; then
    apt_update
    # Debian 12 has openjdk-17; later releases dropped it, their default JRE is newer.
    if apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
        need+=(openjdk-17-jre-headless)
    else
        need+=(default-jre-headless)
    fi
fi
command -v mvn >/dev/null || need+=(maven)
if [[ ${#need[@]} -gt 0 ]]; then
    apt_install "${need[@]}"
fi
if [[ "$(java_major)" -lt 17 ]]; then
    echo "install-test-deps: java >= 17 needed, 'java' is $(java_major);" \
         "set JAVA_HOME/PATH to a JDK 17+" >&2
    exit 1
fi
step "java $(java_major), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"

# --- Chromium and chromedriver (the browser test) --------------------------------------
# Debian's own builds, the driver from the same source package: Selenium is given the
# driver's path, so it never downloads a browser or driver of its own.
chromium_major() {
    # "Chromium 156.0.8078.79 built on Debian ..." -> 156 (the launcher script is noisy on stderr)
    "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | head -1 | cut -d. -f1
}
need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
if [[ ${#need[@]} -eq 0 ]] &&
    [[ "$(chromium_major /usr/bin/chromium)" != "$(chromium_major /usr/bin/chromedriver)" ]]; then
    need=(chromium chromium-driver) # versions drifted apart: bring both to the same release
fi
if [[ ${#need[@]} -gt 0 ]]; then
    apt_install "${need[@]}"
fi
step "$(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"

# --- Python package + test extras ------------------------------------------------------
py="${PYTHON:-$(command -v python3 || command -v python)}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install-test-deps: Python >= 3.11 needed, $py is $("$py" -V 2>&1)" >&2
    exit 1
fi
externally_managed="$("$py" - <<'EOF'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(int(not in_venv and os.path.exists(marker)))
EOF
)"
if [[ "$externally_managed" == 1 ]]; then
    step "$py is externally managed (PEP 668): using the project venv .venv"
    if [[ ! -x .venv/bin/python ]]; then
        "$py" -m venv --system-site-packages .venv 2>/dev/null || {
            apt_install python3-venv
            "$py" -m venv --system-site-packages .venv
        }
    fi
    py="$repo/.venv/bin/python"
elif ! "$py" -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
fi
# pip costs ~5 s even when nothing changed (isolated build of the editable wheel), on every
# test run; skip it when pyproject.toml is unchanged since the last install and every
# requirement of klantsignaal[test] is still installed in a matching version.
# Versions are pinned by constraints.txt (scripts/update-constraints.py writes it).
pip_stamp="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) $py"
installed_ok() {
    # -I: no cwd on sys.path, or the in-repo klantsignaal.egg-info would shadow the install.
    "$py" -I - "$repo" <<'PYEOF'
import importlib.metadata as md
import json
import sys

from packaging.requirements import Requirement

try:
    dist = md.distribution("klantsignaal")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url") != "file://" + sys.argv[1]:
        sys.exit(1)
    if not direct.get("dir_info", {}).get("editable"):
        sys.exit(1)
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"extra": "test"}):
            continue
        if not req.specifier.contains(md.version(req.name), prereleases=True):
            sys.exit(1)
    for line in open(sys.argv[1] + "/constraints.txt"):
        name, sep, pinned = line.strip().partition("==")
        if sep and md.version(name) != pinned:
            sys.exit(1)  # an installed version differs from the pinned one
except md.PackageNotFoundError:
    sys.exit(1)
PYEOF
}
mkdir -p .cache
if [[ -f .cache/pip-stamp && "$(cat .cache/pip-stamp)" == "$pip_stamp" ]] && installed_ok; then
    step "klantsignaal[test] already installed in $py (pyproject.toml unchanged)"
else
    step "pip install -e '.[test]' with $py ($("$py" -V 2>&1))"
    rm -f .cache/pip-stamp
    PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q -c constraints.txt -e '.[test]'
    echo "$pip_stamp" >.cache/pip-stamp
fi
echo "$py" >.cache/test-python

# --- axe-core (accessibility checks in the browser tests) -----------------------------
# From the npm registry, pinned in scripts/axe/package.json; tests/support/axe.py injects it.
axe_dir=.cache/axe
if [[ -f $axe_dir/node_modules/axe-core/axe.min.js ]] &&
    cmp -s scripts/axe/package.json $axe_dir/package.json; then
    step "axe-core present"
else
    command -v npm >/dev/null || apt_install nodejs npm
    mkdir -p $axe_dir
    cp scripts/axe/package.json $axe_dir/package.json
    step "npm install axe-core"
    (cd $axe_dir && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

# --- Kafka broker jars -----------------------------------------------------------------
step "Kafka jars"
bash scripts/fetch-kafka.sh

step "done"
