package installer

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ProxyConfig is the proxy setting Juju hands the charm
// (JUJU_CHARM_HTTP_PROXY, JUJU_CHARM_HTTPS_PROXY, JUJU_CHARM_NO_PROXY).
//
// The matching follows golang.org/x/net/http/httpproxy. That package cannot
// be imported here: it pulls golang.org/x/text, which go.sum does not pin.
type ProxyConfig struct {
	HTTPProxy, HTTPSProxy, NoProxy string
}

// ProxyFromEnv reads the Juju charm proxy variables through getenv
// (os.Getenv in the charm, a map lookup in tests).
func ProxyFromEnv(getenv func(string) string) ProxyConfig {
	return ProxyConfig{
		HTTPProxy:  getenv("JUJU_CHARM_HTTP_PROXY"),
		HTTPSProxy: getenv("JUJU_CHARM_HTTPS_PROXY"),
		NoProxy:    getenv("JUJU_CHARM_NO_PROXY"),
	}
}

// proxyFunc returns the http.Transport.Proxy hook for this configuration.
func (p ProxyConfig) proxyFunc() func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) { return p.ProxyFor(r.URL) }
}

// ProxyFor returns the proxy to use for target, or nil for a direct
// connection. Loopback targets are always direct, as in net/http.
func (p ProxyConfig) ProxyFor(target *url.URL) (*url.URL, error) {
	raw := p.HTTPProxy
	if target.Scheme == "https" {
		raw = p.HTTPSProxy
	}
	if raw == "" || p.bypass(target) {
		return nil, nil
	}
	proxy, err := url.Parse(raw)
	if err != nil || proxy.Scheme == "" || proxy.Host == "" {
		// "squid:3128" is a common way to write a proxy: assume http.
		proxy, err = url.Parse("http://" + raw)
	}
	if err != nil {
		return nil, &ProxyError{Err: err}
	}
	return proxy, nil
}

// ProxyError is a proxy setting (JUJU_CHARM_HTTP(S)_PROXY) that does not parse. It does not repeat
// the setting: a proxy URL may carry credentials.
type ProxyError struct{ Err error }

func (e *ProxyError) Error() string {
	return "invalid proxy setting (JUJU_CHARM_HTTP_PROXY / JUJU_CHARM_HTTPS_PROXY): not a URL"
}

func (e *ProxyError) Unwrap() error { return e.Err }

// bypass reports whether NoProxy exempts target: "*" exempts all; an IP or
// CIDR matches addresses; "example.com" matches it and its subdomains;
// ".example.com" only subdomains; an entry with ":port" also needs the port.
func (p ProxyConfig) bypass(target *url.URL) bool {
	host, port := strings.ToLower(target.Hostname()), target.Port()
	if port == "" { // as httpproxy does: "mirror:443" matches https://mirror/
		port = map[string]string{"http": "80", "https": "443"}[target.Scheme]
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return true
	}
	for _, entry := range strings.Split(p.NoProxy, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if entry == "*" {
			return true
		}
		if _, cidr, err := net.ParseCIDR(entry); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		entry = strings.TrimPrefix(entry, "*") // httpproxy reads "*.corp" as ".corp"
		entryHost, entryPort := entry, ""
		if h, pt, err := net.SplitHostPort(entry); err == nil {
			entryHost, entryPort = h, pt
		}
		if entryPort != "" && entryPort != port {
			continue
		}
		if hostMatches(host, entryHost) {
			return true
		}
	}
	return false
}

func hostMatches(host, entry string) bool {
	if strings.HasPrefix(entry, ".") {
		return strings.HasSuffix(host, entry)
	}
	if e := net.ParseIP(entry); e != nil {
		h := net.ParseIP(host)
		return h != nil && h.Equal(e)
	}
	return host == entry || strings.HasSuffix(host, "."+entry)
}
