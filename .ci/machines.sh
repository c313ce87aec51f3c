#!/usr/bin/env bash
# Installs what the simulator's machines need (systemd-nspawn, debootstrap, iproute2) and pre-builds
# the cached Debian rootfs every machine boots from, so tests only pay for booting.
#
# Idempotent: packages already present are not reinstalled and a complete rootfs cache is reused.
# Source it or run it from the repository root. JUJUSIM_ROOTFS overrides the cache directory.
set -euo pipefail

machines_main() {
	local repo
	repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

	if [ "$(id -u)" -ne 0 ]; then
		echo "machines.sh: must run as root (debootstrap, nspawn, overlay mounts)" >&2
		return 1
	fi

	local start=$SECONDS missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v nsenter >/dev/null || missing+=(util-linux)
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "machines.sh: installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	echo "machines.sh: packages ready in $((SECONDS - start))s"

	# Every machine's systemd takes several inotify instances; the kernel's default of 128 per user
	# runs out with a few dozen machines (the e2e suite boots that many at once): "Failed to create
	# inotify object: Too many open files" and machines that never boot. LXD's production setup
	# raises the same limits. Only raised, never lowered.
	raise_sysctl fs.inotify.max_user_instances 8192
	raise_sysctl fs.inotify.max_user_watches 1048576

	# The rootfs is built by the same Go code the tests use, so the lock and completion marker agree.
	start=$SECONDS
	(cd "$repo" && go run ./internal/jujusim/machine/cmd/jujusim-rootfs)
	echo "machines.sh: rootfs ready in $((SECONDS - start))s"
}

# raise_sysctl KEY MIN sets KEY to MIN when it is lower.
raise_sysctl() {
	local now
	now="$(sysctl -n "$1")"
	if [ "$now" -lt "$2" ]; then
		sysctl -q -w "$1=$2"
		echo "machines.sh: $1 $now -> $2"
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	machines_main "$@"
fi
