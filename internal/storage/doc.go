// Package storage implements the shared-storage protocol: N units, possibly on N machines, that see
// one filesystem download, verify and unpack a Concourse release exactly once.
//
// Layout under a root:
//
//	.concourse-shared-id         random UUID, published once (temp + link: never half-written)
//	locks/install.lock           fcntl OFD lock file, never deleted
//	locks/install.owner          JSON Owner of the current holder, for status messages
//	releases/<V>-<arch>/         unpacked release, its files sealed read-only once complete
//	releases/<V>-<arch>/.complete  Marker, written last
//	releases/.staging-*/         an install in progress (or a dead one: removed by the next holder)
//	releases/.trash-*/           a removal in progress (same rule)
//	units/<app>-<n>/             per-unit ref.json and heartbeat.json, mode 0700, never secrets (and
//	                             internal/release's resource-sha256.json: the unit's resource digest)
//	rejected/<V>-<arch>.json     Rejection: an artifact refused for its content (bad checksum, unsafe
//	                             entry, wrong version, not a release), so no unit fetches it again
//
// Choices beyond the first design, and why:
//   - Identity also records whether the root was a mount point, so Revalidate can say "unmounted"
//     rather than only "different storage"; a changed device:inode with the same UUID is its own
//     error (ErrDeviceChanged) because NFS device numbers change across reboots, while a changed UUID
//     (ErrIdentityChanged) always means other storage.
//   - Units hold the releases they ensure (UnitRef.Holds) before they read the marker, and GC deletes
//     a marker before it re-reads the holds, which closes the window in which a GC could remove a
//     release a unit has just been handed but not yet recorded as running.
//   - Complete trees are sealed read-only, and removals go through a trash rename, so no crash can
//     leave a marker beside a partial tree.
//   - Lock waits cannot be interrupted by signals from Go (see LockNotify), so a cancelled wait is
//     abandoned on its own open file and releases the lock the instant the kernel grants it.
package storage
