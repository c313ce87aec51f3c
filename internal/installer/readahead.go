package installer

import (
	"io"
	"sync"
)

// Read-ahead sizing: chunks big enough that handing one over costs nothing
// next to filling it, and few enough that memory stays bounded (about 2 MiB).
const (
	readAheadChunk = 256 << 10
	readAheadDepth = 6
)

// readAhead runs a reader chain (network or resource file, progress,
// hashing) in its own goroutine and hands filled chunks to the caller
// through a short queue. Inflating the gzip stream is the longest stage of
// an install; with the reads and digests on another core, they cost no
// wall time.
//
// Read and stop are for the consuming goroutine only. Whatever the chain
// touches (hashes, counters) may be read by the consumer once Read has
// returned an error or io.EOF, or after stop.
type readAhead struct {
	chunks chan chunk
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	stopMu sync.Once

	cur  chunk
	off  int
	fail error // sticky error of the stream, once reached
}

// chunk is buf[:n] followed, if err is set, by the end of the stream.
type chunk struct {
	buf []byte
	n   int
	err error
}

func startReadAhead(src io.Reader) *readAhead {
	ra := &readAhead{
		chunks: make(chan chunk, readAheadDepth),
		free:   make(chan []byte, readAheadDepth+2),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range readAheadDepth + 2 {
		ra.free <- make([]byte, readAheadChunk)
	}
	go ra.fill(src)
	return ra
}

// fill is the producer: it reads src into free buffers until src ends or
// the consumer stops.
func (ra *readAhead) fill(src io.Reader) {
	defer close(ra.exited)
	defer close(ra.chunks)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := readFull(src, buf)
		select {
		case ra.chunks <- chunk{buf: buf, n: n, err: err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// readFull reads until buf is full or src fails; unlike io.ReadFull it
// passes src's own error through unchanged (io.EOF stays io.EOF).
func readFull(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == ra.cur.n {
		if ra.fail != nil {
			return 0, ra.fail
		}
		if ra.cur.err != nil {
			ra.fail = ra.cur.err
			return 0, ra.fail
		}
		if ra.cur.buf != nil {
			ra.free <- ra.cur.buf
		}
		c, ok := <-ra.chunks
		if !ok {
			// Only stop closes the queue before an error chunk.
			ra.fail = io.ErrClosedPipe
			return 0, ra.fail
		}
		ra.cur, ra.off = c, 0
	}
	n := copy(p, ra.cur.buf[ra.off:ra.cur.n])
	ra.off += n
	return n, nil
}

// stop ends the producer and then closes src. cancel must end a read the
// producer is blocked in (the request's context), as src itself may not
// be closed while a Read on it runs.
func (ra *readAhead) stop(cancel func(), src io.Closer) error {
	var err error
	ra.stopMu.Do(func() {
		close(ra.done)
		cancel()
		<-ra.exited
		err = src.Close()
	})
	return err
}
