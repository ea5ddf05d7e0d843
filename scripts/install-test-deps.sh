#!/usr/bin/env bash
# Installs the system packages the integration tests need (Debian 12).
# Idempotent: does nothing when every command is already on PATH.
# Quiet on success (one line), prints the log tail on failure.
set -euo pipefail

log="${CAIRN_INSTALL_LOG:-${TMPDIR:-/tmp}/cairn-install-test-deps.log}"

# command -> Debian package that provides it
declare -A pkg_for=(
  [radosgw]=radosgw
  [radosgw-admin]=ceph-common
  [ceph]=ceph-common
  [monmaptool]=ceph-base
  [ceph-mon]=ceph-mon
  [ceph-mgr]=ceph-mgr
  [ceph-osd]=ceph-osd
  [etcd]=etcd-server
  [etcdctl]=etcd-client
  [rclone]=rclone
  [restic]=restic
  [rsync]=rsync
  [kubectl]=kubernetes-client
)

missing_cmds=()
packages=()
for cmd in "${!pkg_for[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_cmds+=("$cmd")
    pkg="${pkg_for[$cmd]}"
    if [[ " ${packages[*]-} " != *" $pkg "* ]]; then
      packages+=("$pkg")
    fi
  fi
done

if [[ ${#missing_cmds[@]} -eq 0 ]]; then
  echo "install-test-deps: all test dependencies already present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-test-deps: missing ${missing_cmds[*]}; need root (or sudo) to install ${packages[*]}" >&2
    exit 1
  fi
fi

fail() {
  echo "install-test-deps: FAILED: $1 (log: $log)" >&2
  echo "----- last 40 lines of $log -----" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}

: >"$log"
{
  echo "missing commands: ${missing_cmds[*]}"
  echo "packages to install: ${packages[*]}"
} >>"$log"

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update >>"$log" 2>&1 || fail "apt-get update"

# Only ask for packages this apt knows about, so a renamed package gives a clear error.
for pkg in "${packages[@]}"; do
  candidate=$(apt-cache policy "$pkg" 2>>"$log" | awk '/Candidate:/ {print $2}')
  if [[ -z $candidate || $candidate == "(none)" ]]; then
    echo "package $pkg has no install candidate" >>"$log"
    fail "package $pkg is not available from the configured apt sources"
  fi
done

"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >>"$log" 2>&1 ||
  fail "apt-get install ${packages[*]}"

still_missing=()
for cmd in "${missing_cmds[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || still_missing+=("$cmd")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
  echo "still missing after install: ${still_missing[*]}" >>"$log"
  fail "commands still missing after install: ${still_missing[*]}"
fi

echo "install-test-deps: installed ${packages[*]} (log: $log)"
