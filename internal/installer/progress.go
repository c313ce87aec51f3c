package installer

import (
	"fmt"
	"io"
)

// Progress phases reported to Request.Progress.
const (
	PhaseDownload = "download" // reading the tarball from the URL
	PhaseResource = "resource" // reading the tarball from the Juju resource
	PhaseVerify   = "verify"   // running concourse --version
	PhaseSync     = "sync"     // flushing the staging filesystem
)

// Progress is one status update: Done of Total bytes of the tarball (Total
// is -1 when unknown) in Phase.
type Progress struct {
	Done, Total int64
	Phase       string
}

// progressStep is the minimum distance between reports, so status-set is
// called about a hundred times at most, not once per read.
const progressStep = 1 << 20

// progressReader counts bytes and reports every 1% (at least 1 MiB).
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	phase string
	next  int64 // report when done reaches this
	last  int64 // done at the last report
	step  int64
	fn    func(Progress)
}

func newProgressReader(r io.Reader, total int64, phase string, fn func(Progress)) *progressReader {
	step := int64(progressStep)
	if total/100 > step {
		step = total / 100
	}
	p := &progressReader{r: r, total: total, phase: phase, step: step, fn: fn}
	p.report()
	return p
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done >= p.next || (err == io.EOF && p.done != p.last) {
		p.report()
	}
	return n, err
}

func (p *progressReader) report() {
	if p.fn != nil {
		p.fn(Progress{Done: p.done, Total: p.total, Phase: p.phase})
	}
	p.last = p.done
	p.next = p.done + p.step
}

// Message renders p for status-set, e.g.
// "Downloading Concourse 7.14.3: 312/890 MB".
func (p Progress) Message(version string) string {
	const mb = 1 << 20
	amount := fmt.Sprintf("%d MB", p.Done/mb)
	if p.Total >= 0 {
		amount = fmt.Sprintf("%d/%d MB", p.Done/mb, (p.Total+mb-1)/mb)
	}
	switch p.Phase {
	case PhaseDownload:
		return fmt.Sprintf("Downloading Concourse %s: %s", version, amount)
	case PhaseResource:
		return fmt.Sprintf("Unpacking Concourse %s from the attached resource: %s", version, amount)
	case PhaseVerify:
		return fmt.Sprintf("Verifying Concourse %s", version)
	default:
		return fmt.Sprintf("Writing Concourse %s to disk", version)
	}
}
