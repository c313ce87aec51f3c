package installer

import (
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
)

func TestParseSHA1Sidecar(t *testing.T) {
	t.Parallel()
	const sum = "0123456789abcdef0123456789abcdef01234567"
	const name = "concourse-7.14.3-linux-amd64.tgz"
	cases := []struct {
		name, content, want, wantErr string
	}{
		{"published format", sum + "  " + name + "\n", sum, ""},
		{"binary mark", sum + " *" + name + "\n", sum, ""},
		{"bare digest", sum + "\n", sum, ""},
		{"upper case", strings.ToUpper(sum) + "  " + name, sum, ""},
		{"crlf", sum + "  " + name + "\r\n", sum, ""},
		{"empty", "", "", "empty"},
		{"whitespace only", " \t\n", "", "empty"},
		{"short digest", sum[:39] + "  " + name, "", "malformed sha1"},
		{"sha256 in sha1 file", strings.Repeat("a", 64) + "  " + name, "", "malformed sha1"},
		{"not hex", strings.Repeat("g", 40), "", "not hex"},
		{"other file", sum + "  other.tgz", "", "names file"},
		{"two lines", sum + "  " + name + "\n" + sum + "  " + name + "\n", "", "more than one line"},
		{"extra fields", sum + "  " + name + " junk", "", "malformed line"},
		{"html error page", "<html><body>Not Found</body></html>", "", "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSHA1Sidecar(tc.content, name)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestProxyFor(t *testing.T) {
	t.Parallel()
	cfg := ProxyConfig{
		HTTPProxy:  "http://proxy:3128",
		HTTPSProxy: "squid.internal:3129",
		NoProxy:    "internal.example, .corp, 10.0.0.0/8, 192.168.1.5, mirror:8443, dl.example:443, *.lab",
	}
	cases := []struct {
		url, want string
	}{
		{"http://github.com/x", "http://proxy:3128"},
		{"https://github.com/x", "http://squid.internal:3129"},
		{"https://internal.example/x", ""},
		{"https://a.internal.example/x", ""},
		{"https://notinternal.example/x", "http://squid.internal:3129"},
		{"https://host.corp/x", ""},
		{"https://corp/x", "http://squid.internal:3129"},
		{"http://10.1.2.3/x", ""},
		{"http://11.1.2.3/x", "http://proxy:3128"},
		{"http://192.168.1.5/x", ""},
		{"https://mirror:8443/x", ""},
		{"https://mirror/x", "http://squid.internal:3129"},
		{"http://127.0.0.1:8080/x", ""},
		{"http://localhost/x", ""},
		{"http://LOCALHOST/x", ""},
		{"https://dl.example/x", ""},                 // default port 443 matches dl.example:443
		{"http://dl.example/x", "http://proxy:3128"}, // port 80 does not
		{"https://a.lab/x", ""},                      // "*.lab" is ".lab"
		{"https://lab/x", "http://squid.internal:3129"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.ProxyFor(u)
			if err != nil {
				t.Fatal(err)
			}
			if s := urlString(got); s != tc.want {
				t.Errorf("ProxyFor(%s) = %q, want %q", tc.url, s, tc.want)
			}
		})
	}
	t.Run("star bypasses all", func(t *testing.T) {
		t.Parallel()
		u, _ := url.Parse("https://github.com/")
		got, err := ProxyConfig{HTTPSProxy: "http://p:1", NoProxy: "*"}.ProxyFor(u)
		if err != nil || got != nil {
			t.Errorf("got %v, %v; want direct", got, err)
		}
	})
	t.Run("from env", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"JUJU_CHARM_HTTP_PROXY": "a", "JUJU_CHARM_HTTPS_PROXY": "b", "JUJU_CHARM_NO_PROXY": "c", "HTTP_PROXY": "ignored"}
		got := ProxyFromEnv(func(k string) string { return env[k] })
		if got != (ProxyConfig{HTTPProxy: "a", HTTPSProxy: "b", NoProxy: "c"}) {
			t.Errorf("ProxyFromEnv = %+v", got)
		}
	})
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes 5-9", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range cases {
		start, total, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (start != tc.start || total != tc.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tc.in, start, total, err)
		}
	}
}

func TestProgressThrottle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		size      int64
		wantCalls int // including the initial 0 report
	}{
		{"small file: 1 MiB steps", 3<<20 + 5, 5},          // 0, 1M, 2M, 3M, final
		{"large file: 1% steps", 1000 << 20, 101},          // 0 then every 1%
		{"tiny file: start and end", 10, 2},                // 0 and final
		{"exact multiple: no duplicate final", 2 << 20, 3}, // 0, 1M, 2M
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls []Progress
			pr := newProgressReader(io.LimitReader(zeros{}, tc.size), tc.size, PhaseDownload, func(p Progress) { calls = append(calls, p) })
			if _, err := io.CopyBuffer(io.Discard, pr, make([]byte, 64<<10)); err != nil {
				t.Fatal(err)
			}
			if len(calls) != tc.wantCalls {
				t.Errorf("%d reports, want %d", len(calls), tc.wantCalls)
			}
			if last := calls[len(calls)-1]; last.Done != tc.size || last.Total != tc.size {
				t.Errorf("last report %+v, want done=total=%d", last, tc.size)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestLimitedBuffer(t *testing.T) {
	t.Parallel()
	var b limitedBuffer
	big := bytes.Repeat([]byte("x"), maxVersionOutput+100)
	if n, err := b.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.Len() != maxVersionOutput {
		t.Errorf("kept %d bytes, want %d", b.Len(), maxVersionOutput)
	}
}

func TestProgressMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p    Progress
		want string
	}{
		{Progress{Done: 312 << 20, Total: 890 << 20, Phase: PhaseDownload}, "Downloading Concourse 7.14.3: 312/890 MB"},
		{Progress{Done: 5 << 20, Total: -1, Phase: PhaseDownload}, "Downloading Concourse 7.14.3: 5 MB"},
		{Progress{Done: 0, Total: 1, Phase: PhaseResource}, "Unpacking Concourse 7.14.3 from the attached resource: 0/1 MB"},
		{Progress{Phase: PhaseVerify}, "Verifying Concourse 7.14.3"},
		{Progress{Phase: PhaseSync}, "Writing Concourse 7.14.3 to disk"},
	}
	for _, tc := range cases {
		if got := tc.p.Message("7.14.3"); got != tc.want {
			t.Errorf("Message(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
