package installer

import (
	"errors"
	"net/url"
	"strings"
)

// displayURL is rawURL as it may appear in errors, statuses, logs and markers: without user
// information and without the query string, either of which may carry credentials (a mirror's
// basic auth, a pre-signed S3 URL). Requests always use the real URL.
func displayURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(download-url that does not parse)"
	}
	hidden := u.RawQuery != ""
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	if hidden {
		return u.String() + "?(query hidden)"
	}
	return u.String()
}

// redactTransportError hides credentials in the *url.Error net/http returns: it strips the
// password but keeps the query, of the download-url or of a redirect target (a signed CDN URL).
func redactTransportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = displayURL(ue.URL)
		// net/http quotes a Location it cannot parse whole in its message.
		if ue.Err != nil && strings.HasPrefix(ue.Err.Error(), "failed to parse Location header") {
			ue.Err = errors.New("redirect to a Location that does not parse (not shown: it may carry a signed query)")
		}
	}
	return err
}
