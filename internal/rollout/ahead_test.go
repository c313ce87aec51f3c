package rollout

import "testing"

// A unit that hears of a new version before the leader's plan names it fetches it at once (and
// keeps running what it runs); a target the plan already names, or rolled back, is not fetched.
func TestDecideFetchesAConfiguredVersionAhead(t *testing.T) {
	cases := []struct {
		name   string
		plan   Plan
		target string
		want   Decision
	}{
		{"plan not yet stepped", Plan{ID: 1, To: "1.0.0"}, "2.0.0", Decision{Run: "1.0.0", Fetch: "2.0.0"}},
		{"plan names it", Plan{ID: 2, From: "1.0.0", To: "2.0.0", Turn: "ci/0"}, "2.0.0", Decision{Run: "1.0.0", Fetch: "2.0.0"}},
		{"nothing new", Plan{ID: 1, To: "1.0.0"}, "1.0.0", Decision{Run: "1.0.0"}},
		{"rolled back", Plan{ID: 3, From: "2.0.0", To: "1.0.0", Abandoned: "2.0.0"}, "2.0.0", Decision{Run: "1.0.0"}},
	}
	for _, c := range cases {
		if got := Decide(c.plan, "ci/1", "1.0.0", c.target); got != c.want {
			t.Errorf("%s: Decide = %+v, want %+v", c.name, got, c.want)
		}
	}
}
