package hooktools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// writeFormatted follows juju/cmd's output.go: smart prints strings as-is,
// bools as True/False, []string one per line, nil as nothing, anything else
// as YAML; yaml prints nothing for nil; json always prints (null for nil).
func writeFormatted(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("format json: %w", err)
		}
		_, err = w.Write(append(data, '\n'))
		return err
	case "yaml":
		return writeYAML(w, v)
	default:
		return writeSmart(w, v)
	}
}

func writeSmart(w io.Writer, v any) error {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		s = v
	case []string:
		s = strings.Join(v, "\n")
	case bool:
		s = "False"
		if v {
			s = "True"
		}
	default:
		return writeYAML(w, v)
	}
	if s == "" {
		return nil
	}
	_, err := io.WriteString(w, s+"\n")
	return err
}

func writeYAML(w io.Writer, v any) error {
	if v == nil {
		return nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("format yaml: %w", err)
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")
	if len(out) == 0 {
		return nil
	}
	_, err := w.Write(append(out, '\n'))
	return err
}
