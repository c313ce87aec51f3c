package juju

import "context"

// ConfigGet returns every option the charm declares, set or not: options
// without a value or default are present with a nil value (that is what
// --all adds). Whole numbers are int64, other numbers float64, booleans
// bool, strings (and secret options, which are secret URIs) string.
//
//	config-get --all --format=json
func (c *Client) ConfigGet(ctx context.Context) (map[string]any, error) {
	out := map[string]any{}
	if err := c.runJSON(ctx, &out, "config-get", "--all", "--format=json"); err != nil {
		return nil, err
	}
	if out == nil { // the tool printed null
		out = map[string]any{}
	}
	normaliseNumbers(out)
	return out, nil
}
