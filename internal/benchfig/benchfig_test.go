package benchfig

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestRecordAppendsOneLinePerFigure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "figs.jsonl")
	t.Setenv(EnvFile, path)
	Recordf(t, "area", "a", "<= 1", Verdict(true), "%d", 1)
	Recordf(t, "area", "b", "", nil, "%.1f", 2.5)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Figure
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var fig Figure
		if err := json.Unmarshal(sc.Bytes(), &fig); err != nil {
			t.Fatal(err)
		}
		got = append(got, fig)
	}
	if len(got) != 2 || got[0].Value != "1" || got[0].Met == nil || !*got[0].Met || got[1].Value != "2.5" || got[1].Met != nil {
		t.Errorf("figures %+v", got)
	}
}

func TestRecordWithoutTheVariableWritesNothing(t *testing.T) {
	t.Setenv(EnvFile, "")
	dir := t.TempDir()
	t.Chdir(dir)
	Recordf(t, "area", "a", "", nil, "x")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("wrote %v", entries)
	}
}
