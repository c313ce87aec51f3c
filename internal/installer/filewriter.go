package installer

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// File-writer sizing: as many buffers in flight as keep the writer busy
// while the inflater fills the next one; memory stays at about 2 MiB.
const (
	writeChunk   = 256 << 10
	writeBuffers = 8
)

// fileWriter runs the write(2), chmod and close calls of the unpacked
// files on their own goroutine. Copying a release into the page cache
// costs about half as much CPU as inflating it, so doing it beside the
// inflater instead of after each block takes it off the wall time.
//
// The unpacker (one goroutine) opens each file itself, so names, O_EXCL
// and O_NOFOLLOW are checked in archive order, then hands over data and
// the final finish or abandon. Ops of one file are applied in order.
type fileWriter struct {
	ops    chan writeOp
	free   chan []byte
	exited chan struct{}
	fsErr  func(entry, op string, err error) error

	// Writeback of the file being written (ops of one file arrive
	// together): bytes written, and how far writeback was started.
	cur             *os.File
	written, kicked int64

	mu  sync.Mutex
	err error // the first failure; later ops only release what they hold
}

// writeOp is one step for one file: data to write (buf[:n]), or the end
// of the file (finish: set its mode and close it; abandon: just close).
type writeOp struct {
	f     *os.File
	entry string
	buf   []byte
	n     int
	end   endKind
	mode  os.FileMode
}

type endKind int

const (
	endNone endKind = iota
	endFinish
	endAbandon
)

func startFileWriter(fsErr func(entry, op string, err error) error) *fileWriter {
	w := &fileWriter{
		ops:    make(chan writeOp, writeBuffers),
		free:   make(chan []byte, writeBuffers),
		exited: make(chan struct{}),
		fsErr:  fsErr,
	}
	for range writeBuffers {
		w.free <- make([]byte, writeChunk)
	}
	go w.run()
	return w
}

func (w *fileWriter) run() {
	defer close(w.exited)
	for op := range w.ops {
		w.apply(op)
	}
}

func (w *fileWriter) apply(op writeOp) {
	failed := w.failed() != nil
	switch {
	case op.buf != nil:
		if !failed {
			w.writeBlock(op)
		}
		w.free <- op.buf
	case op.end == endFinish && !failed:
		w.startWriteback(op.f, true)
		if err := op.f.Chmod(op.mode); err != nil {
			op.f.Close()
			w.fail(w.fsErr(op.entry, "chmod", err))
			return
		}
		if err := op.f.Close(); err != nil {
			w.fail(w.fsErr(op.entry, "close", err))
		}
	default: // abandon, or finish after a failure: only release the descriptor
		op.f.Close()
	}
}

func (w *fileWriter) writeBlock(op writeOp) {
	if op.f != w.cur {
		w.cur, w.written, w.kicked = op.f, 0, 0
	}
	n, err := op.f.Write(op.buf[:op.n])
	w.written += int64(n)
	if err != nil {
		w.fail(w.fsErr(op.entry, "write", err))
		return
	}
	w.startWriteback(op.f, false)
}

// writebackStep is how much written data waits before its writeback starts.
const writebackStep = 8 << 20

// startWriteback asks the kernel to start writing what this file has
// written so far (every writebackStep, and at its end), without waiting
// for it. The release is made durable before its marker is written
// (syncfs, then an fsync per file); starting the writeback now, as dpkg
// does, lets the disk work while the rest is inflated, so those syncs find
// little left to do. It is only a hint: an error (a filesystem without
// it) changes nothing, the syncs still decide.
func (w *fileWriter) startWriteback(f *os.File, end bool) {
	if f != w.cur || w.written == w.kicked || (!end && w.written-w.kicked < writebackStep) {
		return
	}
	_ = unix.SyncFileRange(int(f.Fd()), w.kicked, w.written-w.kicked, unix.SYNC_FILE_RANGE_WRITE)
	w.kicked = w.written
}

func (w *fileWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *fileWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// buffer returns an empty buffer to fill, waiting for the writer to hand
// one back, or the writer's failure: the unpack stops at the next block.
func (w *fileWriter) buffer() ([]byte, error) {
	if err := w.failed(); err != nil {
		return nil, err
	}
	return <-w.free, nil
}

// release gives back a buffer that was not filled.
func (w *fileWriter) release(buf []byte) { w.free <- buf }

// write queues buf[:n] for f; buf comes back to the pool once written.
func (w *fileWriter) write(f *os.File, entry string, buf []byte, n int) {
	w.ops <- writeOp{f: f, entry: entry, buf: buf, n: n}
}

// finish queues the end of a complete file: chmod to mode, close.
func (w *fileWriter) finish(f *os.File, entry string, mode os.FileMode) {
	w.ops <- writeOp{f: f, entry: entry, end: endFinish, mode: mode}
}

// abandon queues the close of a file the unpack gives up on.
func (w *fileWriter) abandon(f *os.File, entry string) {
	w.ops <- writeOp{f: f, entry: entry, end: endAbandon}
}

// wait flushes every queued op, ends the writer and returns its first
// failure. Every file handed to it is closed by then.
func (w *fileWriter) wait() error {
	close(w.ops)
	<-w.exited
	return w.failed()
}
