package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// Source is one --config-file or --config-dir argument, in command-line order.
type Source struct {
	Path string
	Dir  bool
}

// DefaultSources are what nova-compute reads when given no flag (Sources(nil)).
func DefaultSources() []Source { return Sources(nil) }

// Sources completes the command line's --config-file and --config-dir arguments as
// oslo.config does for nova-compute (project nova, prog nova-compute): without a
// --config-file, the first nova.conf and the first nova-compute.conf found in ~/.nova, ~,
// /etc/nova and /etc; without a --config-dir, the nova.conf.d and nova-compute.conf.d found
// there (missing ones skipped). These defaults are read first, then the flags in their order,
// and a later file wins. Debian's unit passes --config-file nova.conf --config-file
// nova-compute.conf, so its nova.conf.d and nova-compute.conf.d are read too, before them.
func Sources(flags []Source) []Source {
	home, _ := os.UserHomeDir()
	return sourcesIn(flags, searchDirs(home))
}

// searchDirs is oslo.config's _get_config_dirs for project nova.
func searchDirs(home string) []string {
	var dirs []string
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".nova"), home)
	}
	return append(dirs, "/etc/nova", "/etc")
}

func sourcesIn(flags []Source, dirs []string) []Source {
	hasFile, hasDir := false, false
	for _, f := range flags {
		if f.Dir {
			hasDir = true
		} else {
			hasFile = true
		}
	}
	first := func(name string, wantDir bool) (string, bool) {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil {
				if st.IsDir() != wantDir {
					return "", false // oslo takes the first path that exists, whatever it is
				}
				return p, true
			}
		}
		return "", false
	}
	var out []Source
	if !hasFile {
		for _, name := range []string{"nova.conf", "nova-compute.conf"} {
			if p, ok := first(name, false); ok {
				out = append(out, Source{Path: p})
			}
		}
	}
	if !hasDir {
		for _, name := range []string{"nova.conf.d", "nova-compute.conf.d"} {
			if p, ok := first(name, true); ok {
				out = append(out, Source{Path: p, Dir: true})
			}
		}
	}
	return append(out, flags...)
}

// files expands the sources into the ordered list of files to read.
func files(sources []Source) ([]string, error) {
	var out []string
	for _, s := range sources {
		if !s.Dir {
			if _, err := os.Stat(s.Path); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, s.Path, err)
			}
			out = append(out, s.Path)
			continue
		}
		if st, err := os.Stat(s.Path); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: config dir %s does not exist", ErrNotFound, s.Path)
		}
		matches, err := filepath.Glob(filepath.Join(s.Path, "*.conf"))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, s.Path, err)
		}
		sort.Strings(matches)
		out = append(out, matches...)
	}
	return out, nil
}

// Load reads the sources in order and returns the typed options.
func Load(sources []Source) (*Config, error) {
	cat, err := loadCatalogue()
	if err != nil {
		return nil, err
	}
	paths, err := files(sources)
	if err != nil {
		return nil, err
	}
	var all []setting
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, p, err)
		}
		s, err := parseINI(p, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, s...)
	}
	r := newResolver(cat, paths, all, hostDefaults())
	cfg := &Config{Files: paths, Warnings: checkKnown(cat, all), Ignored: checkIgnored(cat, all)}
	if err := bind(reflect.ValueOf(cfg).Elem(), r); err != nil {
		return nil, err
	}
	return cfg, nil
}

// bind walks Config: each `group` field's struct is filled from that group.
func bind(v reflect.Value, r *resolver) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		group := t.Field(i).Tag.Get("group")
		if group == "" {
			continue
		}
		if err := bindGroup(v.Field(i), group, r); err != nil {
			return err
		}
	}
	return nil
}

func bindGroup(v reflect.Value, group string, r *resolver) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			if err := bindGroup(v.Field(i), group, r); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("opt")
		if name == "" {
			continue
		}
		val, err := r.value(group, name)
		if err != nil {
			return err
		}
		if err := assign(v.Field(i), val); err != nil {
			return fmt.Errorf("config: [%s] %s: %w", group, name, err)
		}
	}
	return nil
}

// assign stores a converted value into a field; nil leaves the zero value (or nil pointer).
func assign(field reflect.Value, val any) error {
	if val == nil {
		return nil
	}
	target := field
	if field.Kind() == reflect.Pointer {
		target = reflect.New(field.Type().Elem()).Elem()
	}
	rv := reflect.ValueOf(val)
	switch {
	case rv.Type().AssignableTo(target.Type()):
		target.Set(rv)
	case rv.Kind() == reflect.Int && target.Kind() == reflect.Float64:
		target.SetFloat(float64(rv.Int()))
	case rv.Kind() == reflect.String && target.Kind() == reflect.Slice:
		target.Set(reflect.ValueOf(strings.Split(rv.String(), ",")))
	default:
		return fmt.Errorf("novalet reads it as %s but nova's type gives %T", target.Type(), val)
	}
	if field.Kind() == reflect.Pointer {
		p := reflect.New(target.Type())
		p.Elem().Set(target)
		field.Set(p)
	}
	return nil
}

// Effective is one option novalet reads, with the value in force.
type Effective struct {
	Group, Name string
	Value       any // nil for an unset option whose default is None
}

// Effective lists every option novalet reads with its value in force, in declaration order.
// Callers that print it must hide values for which Secret reports true.
func (c *Config) Effective() []Effective {
	var out []Effective
	var walk func(v reflect.Value, group string)
	walk = func(v reflect.Value, group string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			switch {
			case f.Tag.Get("group") != "":
				walk(v.Field(i), f.Tag.Get("group"))
			case f.Anonymous:
				walk(v.Field(i), group)
			case f.Tag.Get("opt") != "":
				fv := v.Field(i)
				var val any
				if fv.Kind() != reflect.Pointer {
					val = fv.Interface()
				} else if !fv.IsNil() {
					val = fv.Elem().Interface()
				}
				out = append(out, Effective{Group: group, Name: f.Tag.Get("opt"), Value: val})
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// Secret reports whether nova marks the option secret (passwords, transport_url).
func Secret(group, name string) bool {
	cat, err := loadCatalogue()
	if err != nil {
		return true
	}
	def := cat.lookup(group, name)
	return def == nil || def.Secret
}

// boundOptions lists the (group, option) pairs Config reads.
func boundOptions() [][2]string {
	var out [][2]string
	for _, e := range (&Config{}).Effective() {
		out = append(out, [2]string{e.Group, e.Name})
	}
	return out
}
