package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// convert turns a raw option value into its Go value by the option's oslo type:
// string, int, float64, bool, []string, map[string]string, or nil (an empty number).
// Errors say what was wrong; the caller adds the file:line and the option path.
func convert(def *optionDef, raw string) (any, error) {
	switch def.Type {
	case "Integer", "Port":
		s := strings.TrimSpace(raw)
		if s == "" {
			return nil, nil
		}
		n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil {
			return nil, fmt.Errorf("not an integer: %q", raw)
		}
		lo, hi := def.Min, def.Max
		if def.Type == "Port" && lo == nil {
			lo, hi = f64(0), f64(65535)
		}
		if err := checkNumber(def, float64(n), lo, hi); err != nil {
			return nil, err
		}
		return n, nil
	case "Float":
		s := strings.TrimSpace(raw)
		if s == "" {
			return nil, nil
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) {
			return nil, fmt.Errorf("not a float: %q", raw)
		}
		return x, checkNumber(def, x, def.Min, def.Max)
	case "Boolean":
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "1", "on", "yes":
			return true, nil
		case "false", "0", "off", "no":
			return false, nil
		}
		return nil, fmt.Errorf("unexpected boolean value %q (use true/false, yes/no, on/off or 1/0)", raw)
	case "List":
		return convertList(def, raw)
	case "Dict":
		return convertDict(raw)
	case "URI":
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("%q is not a valid URI", raw)
		}
		return raw, nil
	case "HostAddress", "HostDomain":
		if net.ParseIP(raw) == nil && !validHostname(raw, def.Type == "HostDomain") {
			return nil, fmt.Errorf("%q is not a valid host address", raw)
		}
		return raw, nil
	default: // String, MultiString and keystoneauth's plain str
		if len(def.Choices) > 0 && !slices.ContainsFunc(def.Choices, func(c any) bool { return fmt.Sprint(c) == raw }) {
			return nil, fmt.Errorf("valid values are [%s], but found %q", joinChoices(def.Choices), raw)
		}
		return raw, nil
	}
}

func checkNumber(def *optionDef, x float64, lo, hi *float64) error {
	if len(def.Choices) > 0 {
		if !slices.ContainsFunc(def.Choices, func(c any) bool { v, ok := c.(float64); return ok && v == x }) {
			return fmt.Errorf("valid values are [%s], but found %g", joinChoices(def.Choices), x)
		}
		return nil
	}
	if lo != nil && x < *lo {
		return fmt.Errorf("should be greater than or equal to %g, but found %g", *lo, x)
	}
	if hi != nil && x > *hi {
		return fmt.Errorf("should be less than or equal to %g, but found %g", *hi, x)
	}
	return nil
}

// convertList splits on commas like oslo's List type: trailing commas are dropped and an item
// that does not parse is joined with the next one.
func convertList(def *optionDef, raw string) ([]string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), ",")
	if s == "" {
		return []string{}, nil
	}
	item := def.Item
	if item == nil {
		item = &optionDef{Type: "String"}
	}
	parts := strings.Split(s, ",")
	var out []string
	for len(parts) > 0 {
		v := parts[0]
		parts = parts[1:]
		for {
			_, err := convert(item, strings.TrimSpace(v))
			if err == nil {
				break
			}
			if len(parts) == 0 {
				return nil, fmt.Errorf("list item %q: %w", strings.TrimSpace(v), err)
			}
			v += "," + parts[0]
			parts = parts[1:]
		}
		out = append(out, strings.TrimSpace(v))
	}
	return out, nil
}

// convertDict reads oslo's "key1:value1,key2:value2" dictionaries.
func convertDict(raw string) (map[string]string, error) {
	out := map[string]string{}
	s := strings.TrimSpace(raw)
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, fmt.Errorf("value should be NAME:VALUE pairs separated by \",\", found %q", pair)
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("key name should not be empty in %q", pair)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func validHostname(s string, allowUnderscore bool) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			ok := r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') ||
				(allowUnderscore && r == '_')
			if !ok {
				return false
			}
		}
	}
	return true
}

func joinChoices(cs []any) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprint(c)
	}
	return strings.Join(out, ", ")
}
