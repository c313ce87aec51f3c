package installer

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// maxSidecarSize: a sidecar is one line; anything bigger is not one.
const maxSidecarSize = 4096

// fetchSidecarSHA1 downloads `<tarballURL>.sha1` and returns its digest.
func fetchSidecarSHA1(ctx context.Context, c *http.Client, tarballURL string, stall time.Duration, retry *retrier) (string, error) {
	sidecarURL := sidecarURLOf(tarballURL)
	resp, err := getWithRetry(ctx, c, sidecarURL, stall, nil, retry)
	if err != nil {
		return "", fmt.Errorf("fetch checksum sidecar: %w", err)
	}
	defer resp.Close()
	data, err := io.ReadAll(io.LimitReader(resp, maxSidecarSize+1))
	if err != nil {
		return "", fmt.Errorf("read checksum sidecar %s: %w", displayURL(sidecarURL), err)
	}
	if len(data) > maxSidecarSize {
		return "", fmt.Errorf("checksum sidecar %s: larger than %d bytes, not a sha1 file", displayURL(sidecarURL), maxSidecarSize)
	}
	sum, err := parseSHA1Sidecar(string(data), tarballName(tarballURL))
	if err != nil {
		return "", fmt.Errorf("checksum sidecar %s: %w", displayURL(sidecarURL), err)
	}
	return sum, nil
}

// parseSHA1Sidecar accepts exactly one line "<40 hex>" optionally followed
// by whitespace and the file name (sha1sum's "*name" binary mark allowed);
// a named file must be the tarball we fetch.
func parseSHA1Sidecar(content, wantName string) (string, error) {
	line := strings.TrimRight(content, "\r\n")
	if strings.TrimSpace(line) == "" {
		return "", fmt.Errorf("empty")
	}
	if strings.ContainsAny(line, "\r\n") {
		return "", fmt.Errorf("more than one line")
	}
	fields := strings.Fields(line)
	if len(fields) > 2 {
		return "", fmt.Errorf("malformed line %q: want \"<sha1>  <file>\"", line)
	}
	sum := strings.ToLower(fields[0])
	if err := checkHex(sum, 40); err != nil {
		return "", fmt.Errorf("malformed sha1 %q: %w", fields[0], err)
	}
	if len(fields) == 2 {
		if name := strings.TrimPrefix(fields[1], "*"); name != wantName {
			return "", fmt.Errorf("names file %q, want %q", name, wantName)
		}
	}
	return sum, nil
}

// checkHex verifies s is exactly n hex digits.
func checkHex(s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("%d characters, want %d hex digits", len(s), n)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("not hex")
	}
	return nil
}

// sidecarURLOf names the sidecar beside the tarball: ".sha1" goes at the
// end of the path, before any query (a mirror's "?raw=1" stays a query).
func sidecarURLOf(tarballURL string) string {
	u, err := url.Parse(tarballURL)
	if err != nil || u.RawQuery == "" && u.Fragment == "" {
		return tarballURL + ".sha1"
	}
	u.Path += ".sha1"
	if u.RawPath != "" {
		u.RawPath += ".sha1"
	}
	return u.String()
}

func tarballName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return path.Base(rawURL)
	}
	return path.Base(u.Path)
}
