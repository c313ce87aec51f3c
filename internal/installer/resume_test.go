package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every response (200 and 206) is cut at a random point; the stream must still be byte-exact.
func TestResumeIsByteExactUnderRandomCuts(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(data)-1)+"/"+strconv.Itoa(len(data)))
			w.Header().Set("ETag", `"x"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
			w.WriteHeader(206)
		} else {
			w.Header().Set("ETag", `"x"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		cut := start + 1 + rand.Intn(1<<20)
		if cut > len(data) {
			cut = len(data)
		}
		w.Write(data[start:cut])
		if cut < len(data) {
			panic(http.ErrAbortHandler)
		}
	}))
	defer srv.Close()
	body, err := openResumable(context.Background(), srv.Client(), srv.URL, 5*time.Second, newRetrier(100, time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	h := sha256.New()
	var got bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(h, &got), body); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want[:]) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("stream differs after %d requests", n.Load())
	}
	t.Logf("%d requests", n.Load())
}

// A proxy/CDN that ignores If-Range answers 206 with bytes of a NEW file (its ETag says so). The
// resume must restart cleanly rather than splice two files, which would only surface later as a
// misleading checksum mismatch ("failed verification").
func TestResumeRefusesAPartOfAnotherFile(t *testing.T) {
	t.Parallel()
	old := bytes.Repeat([]byte("a"), 1<<20)
	neu := bytes.Repeat([]byte("b"), 1<<20)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("ETag", `"old"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(old)))
			w.Write(old[:1000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("ETag", `"new"`) // If-Range "old" ignored
		w.Header().Set("Content-Range", "bytes 1000-"+strconv.Itoa(len(neu)-1)+"/"+strconv.Itoa(len(neu)))
		w.Header().Set("Content-Length", strconv.Itoa(len(neu)-1000))
		w.WriteHeader(206)
		w.Write(neu[1000:])
	}))
	defer srv.Close()
	body, err := openResumable(context.Background(), srv.Client(), srv.URL, 5*time.Second, newRetrier(3, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	_, err = io.Copy(io.Discard, body)
	if !isRestart(err) {
		t.Fatalf("206 carrying ETag %q after If-Range %q was spliced in (err %v)", `"new"`, `"old"`, err)
	}
}
