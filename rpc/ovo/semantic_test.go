package ovo

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// readGolden returns the bytes of testdata/golden/<name>.
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatalf("read golden %s: %v", name, err)
	}
	return b
}

func mustJSON(t testing.TB, data []byte) any {
	t.Helper()
	v, err := decodeJSON(data)
	if err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, data)
	}
	return v
}

// toJSONTree round-trips v through encoding/json so that Go values and
// decoded JSON can be compared alike.
func toJSONTree(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return mustJSON(t, b)
}

// semanticDiff compares two decoded JSON trees: same keys and values,
// numbers by value (Python writes 16.0 where Go writes 16), and the
// "nova_object.changes" / "obj_what_changed" lists as sets. It returns the
// differences, one per line; none means equal.
func semanticDiff(want, got any) []string {
	var diffs []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		switch x := a.(type) {
		case map[string]any:
			y, ok := b.(map[string]any)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: want object, got %T", path, b))
				return
			}
			for k, av := range x {
				bv, ok := y[k]
				if !ok {
					diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
					continue
				}
				if k == KeyChanges || k == whatChangedKey {
					av, bv = sortedStrings(av), sortedStrings(bv)
				}
				walk(path+"."+k, av, bv)
			}
			for k := range y {
				if _, ok := x[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s.%s: unexpected (%v)", path, k, y[k]))
				}
			}
		case []any:
			y, ok := b.([]any)
			if !ok || len(x) != len(y) {
				diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", path, a, b))
				return
			}
			for i := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])
			}
		case json.Number:
			y, ok := b.(json.Number)
			if !ok || !sameNumber(x, y) {
				diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", path, a, b))
			}
		default:
			if a != b {
				diffs = append(diffs, fmt.Sprintf("%s: want %#v, got %#v", path, a, b))
			}
		}
	}
	walk("$", want, got)
	sort.Strings(diffs)
	return diffs
}

func sameNumber(a, b json.Number) bool {
	x, ok1 := new(big.Rat).SetString(a.String())
	y, ok2 := new(big.Rat).SetString(b.String())
	return ok1 && ok2 && x.Cmp(y) == 0
}

func sortedStrings(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := append([]any(nil), list...)
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func requireSame(t testing.TB, what string, want, got any) {
	t.Helper()
	if d := semanticDiff(want, got); len(d) > 0 {
		t.Fatalf("%s differs:\n%s", what, joinLines(d))
	}
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += "  " + l + "\n"
	}
	return s
}

func TestSemanticDiffCatchesDifferences(t *testing.T) {
	a := mustJSON(t, []byte(`{"a": 1.0, "b": [1, 2], "nova_object.changes": ["x", "y"], "c": {"d": "e"}}`))
	same := mustJSON(t, []byte(`{"a": 1, "b": [1, 2], "nova_object.changes": ["y", "x"], "c": {"d": "e"}}`))
	if d := semanticDiff(a, same); len(d) != 0 {
		t.Fatalf("equal trees reported different: %v", d)
	}
	other := mustJSON(t, []byte(`{"a": 2, "b": [2, 1], "nova_object.changes": ["x"], "c": {"d": "f"}, "z": null}`))
	if d := semanticDiff(a, other); len(d) != 6 {
		t.Fatalf("want 6 differences, got %d: %v", len(d), d)
	}
}
