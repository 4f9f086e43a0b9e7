//go:build component

package ovo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// runPython runs one of the testdata scripts with Debian's interpreter.
func runPython(t *testing.T, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Python, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", testenv.Python, script, err, stderr.String())
	}
	return stdout.Bytes()
}

// Objects built in Go are accepted by nova's obj_from_primitive, and nova
// then holds the same values and the same changed fields.
func TestPythonAcceptsGoPrimitives(t *testing.T) {
	testenv.RequirePython(t, "nova.objects")
	names := make([]string, 0, len(goldenBuilders))
	for name := range goldenBuilders {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []*Object
	for _, name := range names {
		objs = append(objs, goldenBuilders[name](t))
	}
	in, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	var results []struct {
		View      json.RawMessage `json:"view"`
		Primitive json.RawMessage `json:"primitive"`
	}
	out := runPython(t, in, "from_primitive.py")
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(objs) {
		t.Fatalf("python output (%v): %s", err, out)
	}
	for i, o := range objs {
		t.Run(o.Name(), func(t *testing.T) {
			requireSame(t, "values nova sees", toJSONTree(t, pythonView(t, o)), mustJSON(t, results[i].View))
			requireSame(t, "nova's re-encoding", withoutChanges(toJSONTree(t, o)), withoutChanges(mustJSON(t, results[i].Primitive)))
		})
	}
}

// pythonView renders o the way from_primitive.py renders the Python object.
func pythonView(t *testing.T, o *Object) map[string]any {
	fields := map[string]any{}
	for _, name := range o.Fields() {
		v, _ := o.Get(name)
		ft := o.Class().Fields[name]
		fields[name] = pythonValue(t, ft, v)
	}
	return map[string]any{
		"name": o.Name(), "version": o.Version(), "fields": fields,
		"what_changed": pythonWhatChanged(o),
	}
}

func pythonValue(t *testing.T, ft *FieldType, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case *Object:
		return pythonView(t, x)
	case []*Object:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pythonView(t, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pythonValue(t, ft.Elem, e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = pythonValue(t, ft.Elem, e)
		}
		return out
	case time.Time:
		// datetime.isoformat() of an aware UTC value.
		s := x.UTC().Format("2006-01-02T15:04:05")
		if us := x.Nanosecond() / 1000; us != 0 {
			s += fmt.Sprintf(".%06d", us)
		}
		return s + "+00:00"
	case string:
		if ft.Kind == KindNetworkModel || ft.Kind == KindNetworkVIFModel {
			return mustJSON(t, []byte(x))
		}
	}
	return v
}

// pythonWhatChanged is ObjWhatChanged plus one nova quirk: a Flavor
// hydrated from a primitive reports non-empty extra_specs and projects as
// changed (Flavor._obj_from_primitive leaves its trackers empty), and that
// makes the holding field changed too.
func pythonWhatChanged(o *Object) []string {
	set := map[string]bool{}
	for _, k := range o.ObjWhatChanged() {
		set[k] = true
	}
	if o.Name() == "Flavor" {
		if m, _ := Value[map[string]any](o, "extra_specs"); len(m) > 0 {
			set["extra_specs"] = true
		}
		if l, _ := Value[[]any](o, "projects"); len(l) > 0 {
			set["projects"] = true
		}
	}
	for _, k := range o.Fields() {
		v, _ := o.Get(k)
		switch x := v.(type) {
		case *Object:
			if x != nil && len(pythonWhatChanged(x)) > 0 {
				set[k] = true
			}
		case []*Object:
			if o.Class().IsList && k == "objects" {
				for _, e := range x {
					if len(pythonWhatChanged(e)) > 0 {
						set[k] = true
					}
				}
			}
		}
	}
	out := []string{}
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// withoutChanges drops every "nova_object.changes" (compared through the
// views, where the Flavor quirk is accounted for).
func withoutChanges(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, KeyChanges)
		for _, e := range x {
			withoutChanges(e)
		}
	case []any:
		for _, e := range x {
			withoutChanges(e)
		}
	}
	return v
}

// The committed golden files and manifest are what nova 26.2.2 produces
// today: re-running the generators gives the same bytes.
func TestGoldenFilesAreCurrent(t *testing.T) {
	testenv.RequirePython(t, "nova.objects")
	dir := t.TempDir()
	runPython(t, nil, "gen_golden.py", dir)
	want, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(got) != len(want) {
		t.Errorf("generator wrote %d files, %d committed", len(got), len(want))
	}
	for _, p := range want {
		compareFiles(t, p, filepath.Join(dir, filepath.Base(p)))
	}

	manifest := filepath.Join(dir, "manifest.json")
	runPython(t, nil, "gen_manifest.py", manifest)
	compareFiles(t, "zed_manifest.json", manifest)
}

func compareFiles(t *testing.T, committed, fresh string) {
	t.Helper()
	a, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fresh)
	if err != nil {
		t.Errorf("%s not regenerated: %v", committed, err)
		return
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s is stale: regenerate it with /usr/bin/python3 rpc/ovo/testdata/%s\n%s",
			committed, generatorOf(committed), firstDifference(a, b))
	}
}

func generatorOf(path string) string {
	if strings.Contains(path, "golden") {
		return "gen_golden.py"
	}
	return "gen_manifest.py"
}

func firstDifference(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  committed: %s\n  generated: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("committed has %d lines, generated %d", len(al), len(bl))
}
