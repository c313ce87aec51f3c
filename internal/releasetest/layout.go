package releasetest

import (
	"archive/tar"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
)

// Layout is the shape of a fixture release's tree.
type Layout int

const (
	// LayoutMinimal: concourse/bin/concourse, the three ResourceTypes and
	// one fly asset. Enough for most tests, quick to write.
	LayoutMinimal Layout = iota
	// LayoutReal: the shape of a published release, as GNU tar writes it
	// from a tree assembled with `cp -a`: the runtime binaries beside
	// concourse in bin/ (one hard-linked, one reached through a relative
	// symlink), CNI plugins with links that climb back into bin/, the 14
	// bundled resource types and fly for three platforms.
	LayoutReal
)

// The LayoutReal tree. Tests check the installed tree against these.
var (
	// RealResourceTypes are the resource types a 7.x release bundles.
	RealResourceTypes = []string{
		"bosh-io-release", "bosh-io-stemcell", "cf", "docker-image", "git", "github-release", "hg",
		"mock", "pool", "registry-image", "s3", "semver", "time", "tracker",
	}
	// RealBinaries sit beside concourse in bin/ (containerd and guardian runtimes).
	RealBinaries = []string{"gdn", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "init"}
	// RealCNIPlugins are in bin/cni/.
	RealCNIPlugins = []string{"bridge", "firewall", "host-local", "loopback", "portmap"}
	// RealFlyAssets are in fly-assets/.
	RealFlyAssets = []string{"fly-darwin-amd64.tgz", "fly-linux-amd64.tgz", "fly-windows-amd64.zip"}
	// RealSymlinks maps each symlink to its (relative) target.
	RealSymlinks = map[string]string{
		"concourse/bin/containerd-shim": "containerd-shim-runc-v2",
		"concourse/bin/cni/lo":          "./loopback",
		"concourse/bin/cni/runc":        "../runc",
	}
	// RealHardlinks maps each hard link to the earlier entry it names, the
	// way GNU tar records the second name of an inode.
	RealHardlinks = map[string]string{
		"concourse/bin/containerd-shim-runc-v1": "concourse/bin/containerd-shim-runc-v2",
	}
)

// realBinarySize is each runtime binary's size: small, the padding goes to
// the resource types as in the minimal layout.
const realBinarySize = 8 << 10

// writeRealLayout writes LayoutReal in GNU tar's own format and order
// (directories first, hard links after the file they name).
func writeRealLayout(tw *tar.Writer, opts TarballOptions, pad io.Reader) error {
	for _, d := range []string{"concourse/", "concourse/bin/", "concourse/bin/cni/", "concourse/resource-types/", "concourse/fly-assets/"} {
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}, nil); err != nil {
			return err
		}
	}
	if !opts.OmitBinary {
		if err := writeBinary(tw, opts); err != nil {
			return err
		}
	}
	for _, name := range RealBinaries {
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/" + name, Mode: 0o755, Size: realBinarySize}, pad); err != nil {
			return err
		}
	}
	for _, name := range RealCNIPlugins {
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeReg, Name: "concourse/bin/cni/" + name, Mode: 0o755, Size: realBinarySize}, pad); err != nil {
			return err
		}
	}
	if err := writeLinks(tw); err != nil {
		return err
	}
	if err := writeResourceTypes(tw, RealResourceTypes, opts.PadBytes, pad); err != nil {
		return err
	}
	for _, name := range RealFlyAssets {
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeReg, Name: "concourse/fly-assets/" + name, Mode: 0o644, Size: 4096}, pad); err != nil {
			return err
		}
	}
	return nil
}

// writeLinks writes RealHardlinks and RealSymlinks in a fixed order.
func writeLinks(tw *tar.Writer) error {
	for _, name := range slices.Sorted(maps.Keys(RealHardlinks)) {
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: RealHardlinks[name], Mode: 0o755}, nil); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(RealSymlinks)) {
		if path.IsAbs(RealSymlinks[name]) {
			return fmt.Errorf("real layout symlink %s: absolute target", name)
		}
		if err := writeGNU(tw, &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: RealSymlinks[name], Mode: 0o777}, nil); err != nil {
			return err
		}
	}
	return nil
}

// writeGNU writes one entry in GNU format (what `tar czf` writes by
// default), its body cut from body.
func writeGNU(tw *tar.Writer, hdr *tar.Header, body io.Reader) error {
	hdr.ModTime = fixtureTime
	hdr.Format = tar.FormatGNU
	hdr.Uname, hdr.Gname = "root", "root"
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", hdr.Name, err)
	}
	if hdr.Size == 0 {
		return nil
	}
	if _, err := io.CopyN(tw, body, hdr.Size); err != nil {
		return fmt.Errorf("write %s: %w", hdr.Name, err)
	}
	return nil
}
