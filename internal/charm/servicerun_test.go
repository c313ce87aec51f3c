package charm

import "testing"

func TestIsSystemdLine(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		"concourse-web.service: Failed with result 'exit-code'.":                   true,
		"Started concourse-web.service - Concourse CI web node (ATC and TSA).":     true,
		"Stopping concourse-web.service - Concourse CI web node (ATC and TSA)...":  true,
		`stand-in web: cannot connect to postgres at h:5432/concourse as user "u"`: false,
		"Started serving on :8080": false,
	} {
		if got := isSystemdLine("concourse-web", line); got != want {
			t.Errorf("%q: %t, want %t", line, got, want)
		}
	}
}
