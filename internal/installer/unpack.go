package installer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

const (
	// topDir is the one directory every release entry lives under.
	topDir = "concourse"
	// binaryPath is the entry a release must contain.
	binaryPath = "concourse/bin/concourse"
	// copyBufSize bounds memory per Install whatever the release size.
	copyBufSize = 256 << 10
)

// unpacker extracts a tar stream into root, which starts empty and is only
// written by us. Because of that, it can track every symlink and regular
// file it made and refuse to write through a link instead of asking the
// filesystem.
type unpacker struct {
	root     string
	w        *fileWriter
	dirs     map[string]bool // directories created (archive-relative)
	files    map[string]bool // regular files created, hard-link targets
	symlinks map[string]bool // symlinks created
}

func newUnpacker(root string) *unpacker {
	u := &unpacker{
		root:     root,
		dirs:     map[string]bool{},
		files:    map[string]bool{},
		symlinks: map[string]bool{},
	}
	u.w = startFileWriter(u.fsError)
	return u
}

// unpackTarball reads a gzip-compressed tar from r into root. It reads the
// gzip stream to its end so the trailer CRC is checked, and fails when the
// release binary is missing.
func unpackTarball(ctx context.Context, r io.Reader, root string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip stream: %w", err)
	}
	u := newUnpacker(root)
	if err := u.extract(ctx, gz); err != nil {
		// The writer's own failure (a full disk) explains a stop better.
		if werr := u.w.wait(); werr != nil {
			return werr
		}
		return err
	}
	if err := u.w.wait(); err != nil {
		return err
	}
	if err := u.checkSymlinks(); err != nil {
		return err
	}
	if !u.files[binaryPath] {
		return fmt.Errorf("tarball has no %s: not a Concourse release", binaryPath)
	}
	return nil
}

// extract creates every entry of the stream; file data goes through u.w.
func (u *unpacker) extract(ctx context.Context, gz *gzip.Reader) error {
	tr := tar.NewReader(gz)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", describeTruncation(err))
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Tar stops at its end marker; the gzip trailer (CRC, length) and any
	// trailing member are only checked when the stream is read to EOF.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return fmt.Errorf("read gzip trailer: %w", describeTruncation(err))
	}
	return nil
}

func describeTruncation(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("tarball truncated or corrupt: %w", err)
	}
	return err
}

// entry validates one header and creates what it describes.
func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		// Metadata for the whole archive (git archive and `tar --format=pax` write one first),
		// not a file: nothing to create, and its name is outside concourse/ by design.
		return nil
	}
	if hdr.Typeflag == tar.TypeDir && path.Clean(hdr.Name) == "." {
		// `tar czf x.tgz -C dir .` starts with "./": the archive's root, which is
		// the staging directory itself: nothing to create.
		return nil
	}
	name, err := cleanEntryName(hdr.Name)
	if err != nil {
		return &UnsafeEntryError{Name: hdr.Name, Reason: err.Error()}
	}
	if err := u.checkParents(name); err != nil {
		return &UnsafeEntryError{Name: hdr.Name, Reason: err.Error()}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.mkdirAll(hdr.Name, name)
	case tar.TypeReg: // archive/tar already maps the old TypeRegA to TypeReg.
		return u.regular(hdr, name, body)
	case tar.TypeSymlink:
		return u.symlink(hdr, name)
	case tar.TypeLink:
		return u.hardlink(hdr, name)
	case tar.TypeChar, tar.TypeBlock:
		return &UnsafeEntryError{Name: hdr.Name, Reason: "device node"}
	case tar.TypeFifo:
		return &UnsafeEntryError{Name: hdr.Name, Reason: "named pipe (fifo)"}
	default:
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("unsupported entry type %q", hdr.Typeflag)}
	}
}

// cleanEntryName returns the slash-separated archive path of name, or why it
// is refused: absolute, climbing with "..", or outside concourse/.
func cleanEntryName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.New("path climbs out with a .. component")
		}
	}
	clean := path.Clean(name)
	if clean != topDir && !strings.HasPrefix(clean, topDir+"/") {
		return "", fmt.Errorf("outside the top-level %s/ directory", topDir)
	}
	return clean, nil
}

// checkParents refuses an entry whose path goes through a symlink we made:
// writing through a link is how archives escape the target directory.
func (u *unpacker) checkParents(name string) error {
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if u.symlinks[dir] {
			return fmt.Errorf("parent %s is a symlink", dir)
		}
	}
	return nil
}

func (u *unpacker) host(name string) string {
	return filepath.Join(u.root, filepath.FromSlash(name))
}

// mkdirAll creates name and its parents as 0755 directories, whatever the
// archive says, so the unprivileged web user can read the release.
func (u *unpacker) mkdirAll(entry, name string) error {
	if name == "." || u.dirs[name] {
		return nil
	}
	if err := u.mkdirAll(entry, path.Dir(name)); err != nil {
		return err
	}
	p := u.host(name)
	err := os.Mkdir(p, 0o755)
	if errors.Is(err, os.ErrExist) {
		if fi, lerr := os.Lstat(p); lerr == nil && fi.IsDir() {
			u.dirs[name] = true
			return nil
		}
		return &UnsafeEntryError{Name: entry, Reason: fmt.Sprintf("%s exists and is not a directory", name)}
	}
	if err != nil {
		return u.fsError(entry, "create directory", err)
	}
	// Mkdir honours the umask; the release must be world-readable anyway.
	if err := os.Chmod(p, 0o755); err != nil {
		return u.fsError(entry, "chmod directory", err)
	}
	u.dirs[name] = true
	return nil
}

func (u *unpacker) regular(hdr *tar.Header, name string, body io.Reader) error {
	if err := u.mkdirAll(hdr.Name, path.Dir(name)); err != nil {
		return err
	}
	// Keep rwx bits only: setuid/setgid/sticky in a downloaded tree would
	// hand root to whoever crafted the tarball.
	mode := os.FileMode(hdr.Mode) & 0o777
	f, err := os.OpenFile(u.host(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, os.ErrExist) {
		return &UnsafeEntryError{Name: hdr.Name, Reason: "duplicate entry"}
	}
	if err != nil {
		return u.fsError(hdr.Name, "create file", err)
	}
	if err := u.copyBody(f, hdr.Name, body); err != nil {
		u.w.abandon(f, hdr.Name)
		return err
	}
	u.w.finish(f, hdr.Name, mode)
	u.files[name] = true
	return nil
}

// copyBody reads one entry's data block by block and queues each block
// for f on the writer.
func (u *unpacker) copyBody(f *os.File, entry string, body io.Reader) error {
	for {
		buf, err := u.w.buffer()
		if err != nil {
			return err
		}
		n, err := readFull(body, buf)
		if n > 0 {
			u.w.write(f, entry, buf, n)
		} else {
			u.w.release(buf)
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("read %s from tarball: %w", entry, describeTruncation(err))
		}
	}
}

func (u *unpacker) symlink(hdr *tar.Header, name string) error {
	target := hdr.Linkname
	switch {
	case target == "":
		return &UnsafeEntryError{Name: hdr.Name, Reason: "symlink with empty target"}
	case strings.HasPrefix(target, "/"):
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("symlink target %q is absolute: it escapes the release", target)}
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved != topDir && !strings.HasPrefix(resolved, topDir+"/") {
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("symlink target %q escapes the release", target)}
	}
	if err := u.mkdirAll(hdr.Name, path.Dir(name)); err != nil {
		return err
	}
	if err := os.Symlink(target, u.host(name)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return &UnsafeEntryError{Name: hdr.Name, Reason: "duplicate entry"}
		}
		return u.fsError(hdr.Name, "symlink", err)
	}
	u.symlinks[name] = true
	return nil
}

func (u *unpacker) hardlink(hdr *tar.Header, name string) error {
	target, err := cleanEntryName(hdr.Linkname)
	if err != nil {
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q: %v", hdr.Linkname, err)}
	}
	if !u.files[target] {
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("hard link to %q, which is not an earlier regular file of the archive", hdr.Linkname)}
	}
	if err := u.mkdirAll(hdr.Name, path.Dir(name)); err != nil {
		return err
	}
	if err := os.Link(u.host(target), u.host(name)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return &UnsafeEntryError{Name: hdr.Name, Reason: "duplicate entry"}
		}
		return u.fsError(hdr.Name, "hard link", err)
	}
	u.files[name] = true
	return nil
}

// checkSymlinks resolves every symlink in the finished tree the way the
// kernel will: a chain such as a -> . then b -> a/../.. passes the
// per-entry lexical check yet climbs out once links are followed.
func (u *unpacker) checkSymlinks() error {
	for name := range u.symlinks {
		if err := u.resolveWithin(name); err != nil {
			return &UnsafeEntryError{Name: name, Reason: err.Error()}
		}
	}
	return nil
}

// maxLinkHops matches Linux's limit on nested symlinks (ELOOP).
const maxLinkHops = 40

// resolveWithin follows name component by component (reading links from
// disk) and fails when the path would leave concourse/.
func (u *unpacker) resolveWithin(name string) error {
	pending := strings.Split(name, "/")
	var stack []string
	for hops := 0; len(pending) > 0; {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			// Passing through the staging root is fine (the final check
			// still demands concourse/); climbing above it is not.
			if len(stack) == 0 {
				return errors.New("symlink resolves outside the release")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, part)
		cur := strings.Join(stack, "/")
		if !u.symlinks[cur] {
			continue
		}
		if hops++; hops > maxLinkHops {
			return errors.New("too many levels of symlinks")
		}
		target, err := os.Readlink(u.host(cur))
		if err != nil {
			return fmt.Errorf("read symlink: %w", err)
		}
		stack = stack[:len(stack)-1]
		pending = append(strings.Split(target, "/"), pending...)
	}
	if len(stack) == 0 || stack[0] != topDir {
		return errors.New("symlink resolves outside the release")
	}
	return nil
}

// fsError wraps a filesystem failure, singling out a full disk.
func (u *unpacker) fsError(entry, op string, err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return &DiskFullError{Entry: entry, Dir: u.root, Err: err}
	}
	return fmt.Errorf("unpack %s: %s: %w", entry, op, err)
}
