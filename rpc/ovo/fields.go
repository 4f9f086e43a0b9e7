package ovo

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxDepth bounds nesting of objects and containers so that hostile input
// cannot recurse without limit. Nova's deepest trees are about 6 levels.
const maxDepth = 64

// Patterns of oslo's and nova's string-pattern field types.
var (
	macPattern           = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
	pciPattern           = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f].[0-7]$`)
	resourceClassPattern = regexp.MustCompile(`^[A-Z0-9_]+$`)
	// nova's AddressBase uses re.match: anchored at the start only.
	addressPatterns = map[Kind]*regexp.Regexp{
		KindUSBAddress:  regexp.MustCompile(`^[a-f0-9]+:[a-f0-9]+`),
		KindSCSIAddress: regexp.MustCompile(`^[a-f0-9]+:[a-f0-9]+:[a-f0-9]+:[a-f0-9]+`),
		KindIDEAddress:  regexp.MustCompile(`^[0-1]:[0-1]`),
		KindXenAddress:  regexp.MustCompile(`^(?:(00[0-9]{2}00)|[1-9][0-9]+)`),
	}
)

func knownKind(k Kind) bool {
	switch k {
	case KindString, KindSensitiveString, KindVersionPredicate, KindEnum, KindUUID,
		KindMACAddress, KindPCIAddress, KindInteger, KindNonNegativeInteger, KindFloat,
		KindNonNegativeFloat, KindBoolean, KindFlexibleBoolean, KindDateTime,
		KindIPAddress, KindIPV4Address, KindIPV6Address, KindIPV4AndV6Address,
		KindIPNetwork, KindIPV4Network, KindIPV6Network, KindList, KindDict, KindSet,
		KindObject, KindResourceClass, KindNetworkModel, KindNetworkVIFModel,
		KindUSBAddress, KindSCSIAddress, KindIDEAddress, KindXenAddress:
		return true
	}
	return false
}

// coerce converts v (a decoded JSON primitive or a natural Go value) into the
// field's Go representation, checking it as the oslo field's coerce does.
// Objects met on the way are decoded with m.
func (m *Manifest) coerce(ft *FieldType, v any, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: %s: nested too deeply", ErrInvalidValue, path)
	}
	v = deref(v)
	if v == nil {
		return m.null(ft, path, depth)
	}
	switch ft.Kind {
	case KindString, KindSensitiveString, KindVersionPredicate, KindUUID:
		return toString(v, path)
	case KindEnum:
		s, err := toString(v, path)
		if err != nil {
			return nil, err
		}
		for _, ok := range ft.Values {
			if s == ok {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%w: %s: %q is not a valid %s", ErrInvalidValue, path, s, ft.Enum)
	case KindMACAddress:
		s, err := toString(v, path)
		if err != nil {
			return nil, err
		}
		s = strings.ReplaceAll(strings.ToLower(s), "-", ":")
		return matched(macPattern, s, path)
	case KindPCIAddress:
		s, err := toString(v, path)
		if err != nil {
			return nil, err
		}
		return matched(pciPattern, strings.ToLower(s), path)
	case KindResourceClass:
		s, err := toString(v, path)
		if err != nil {
			return nil, err
		}
		return matched(resourceClassPattern, strings.ToUpper(s), path)
	case KindUSBAddress, KindSCSIAddress, KindIDEAddress, KindXenAddress:
		s, err := toString(v, path)
		if err != nil {
			return nil, err
		}
		return matched(addressPatterns[ft.Kind], s, path)
	case KindInteger, KindNonNegativeInteger:
		n, err := toInt(v, path)
		if err == nil && ft.Kind == KindNonNegativeInteger && n < 0 {
			err = fmt.Errorf("%w: %s: %d is negative", ErrInvalidValue, path, n)
		}
		if err != nil {
			return nil, err
		}
		return n, nil
	case KindFloat, KindNonNegativeFloat:
		f, err := toFloat(v, path)
		if err == nil && ft.Kind == KindNonNegativeFloat && f < 0 {
			err = fmt.Errorf("%w: %s: %g is negative", ErrInvalidValue, path, f)
		}
		if err != nil {
			return nil, err
		}
		return f, nil
	case KindBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, typeError(path, "a boolean", v)
	case KindFlexibleBoolean:
		return toFlexibleBool(v, path)
	case KindDateTime:
		return toTime(v, path)
	case KindIPAddress, KindIPV4Address, KindIPV6Address, KindIPV4AndV6Address:
		return toIPAddress(ft.Kind, v, path)
	case KindIPNetwork, KindIPV4Network, KindIPV6Network:
		return toIPNetwork(ft.Kind, v, path)
	case KindNetworkModel, KindNetworkVIFModel:
		return toJSONText(v, path)
	case KindList, KindSet:
		return m.coerceList(ft, v, path, depth)
	case KindDict:
		return m.coerceDict(ft, v, path, depth)
	case KindObject:
		return m.coerceObject(ft, v, path, depth)
	}
	return nil, fmt.Errorf("%w: %s: unsupported field kind %q", ErrInvalidValue, path, ft.Kind)
}

// null is oslo's Field._null: None stays None when nullable, else becomes the
// default, else is refused.
func (m *Manifest) null(ft *FieldType, path string, depth int) (any, error) {
	if ft.Nullable {
		return nil, nil
	}
	if ft.Default != nil {
		def, err := decodeJSON(ft.Default)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: default: %w", ErrInvalidValue, path, err)
		}
		if def != nil {
			return m.coerce(ft, def, path, depth+1)
		}
	}
	return nil, fmt.Errorf("%w: %s cannot be None", ErrInvalidValue, path)
}

// deref turns typed nil pointers into nil and follows other pointers, so
// that *string and friends can be set directly. *Object and *time.Time are
// left alone (the former is a value in its own right).
func deref(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case *Object:
		if x == nil {
			return nil
		}
		return x
	case *time.Time:
		if x == nil {
			return nil
		}
		return *x
	case json.RawMessage:
		return v
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	return rv.Interface()
}

func typeError(path, want string, v any) error {
	return fmt.Errorf("%w: %s: want %s, got %T", ErrInvalidValue, path, want, v)
}

func matched(re *regexp.Regexp, s, path string) (any, error) {
	if !re.MatchString(s) {
		return nil, fmt.Errorf("%w: %s: %q does not match %s", ErrInvalidValue, path, s, re)
	}
	return s, nil
}

// toString accepts strings and, as oslo's String.coerce does, integers
// (rendered in decimal). Floats are refused: Python's str() of a float need
// not match the JSON text, and nova never sends one for a string field.
func toString(v any, path string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		return "", typeError(path, "a string", v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	}
	return "", typeError(path, "a string", v)
}

// toInt accepts integral numbers and decimal strings (Python's int()).
func toInt(v any, path string) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return 0, typeError(path, "an integer", v)
		}
		return floatToInt(f, path)
	case float64:
		return floatToInt(x, path)
	case float32:
		return floatToInt(float64(x), path)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %q is not an integer", ErrInvalidValue, path, x)
		}
		return n, nil
	case bool:
		return 0, typeError(path, "an integer", v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %s: %d overflows int64", ErrInvalidValue, path, rv.Uint())
		}
		return int64(rv.Uint()), nil
	}
	return 0, typeError(path, "an integer", v)
}

func floatToInt(f float64, path string) (int64, error) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s: %g is not an int64", ErrInvalidValue, path, f)
	}
	return int64(f), nil
}

// toFloat accepts numbers and numeric strings (Python's float()), but not
// NaN or infinities, which JSON cannot carry.
func toFloat(v any, path string) (float64, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		p, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return 0, typeError(path, "a number", v)
		}
		f = p
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %q is not a number", ErrInvalidValue, path, x)
		}
		f = p
	case bool:
		return 0, typeError(path, "a number", v)
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64:
			f = rv.Float()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f = float64(rv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f = float64(rv.Uint())
		default:
			return 0, typeError(path, "a number", v)
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %s: %g cannot be sent as JSON", ErrInvalidValue, path, f)
	}
	return f, nil
}

// toFlexibleBool is oslo strutils.bool_from_string(strict=False).
func toFlexibleBool(v any, path string) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		n, err := toInt(v, path)
		if err != nil {
			return false, typeError(path, "a boolean", v)
		}
		s = strconv.FormatInt(n, 10)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	}
	return false, nil
}

func toTime(v any, path string) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		t, err := inWireRange(x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	case string:
		t, err := ParseTime(x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	}
	return time.Time{}, typeError(path, "a datetime", v)
}

func toIPAddress(k Kind, v any, path string) (string, error) {
	var a netip.Addr
	switch x := v.(type) {
	case netip.Addr:
		a = x
	case string:
		p, err := netip.ParseAddr(x)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrInvalidValue, path, err)
		}
		a = p
	default:
		return "", typeError(path, "an IP address", v)
	}
	if !a.IsValid() || a.Zone() != "" ||
		(k == KindIPV4Address && !a.Is4()) || (k == KindIPV6Address && !a.Is6()) {
		return "", fmt.Errorf("%w: %s: %q is not a valid %s", ErrInvalidValue, path, a, k)
	}
	return a.String(), nil
}

func toIPNetwork(k Kind, v any, path string) (string, error) {
	var p netip.Prefix
	switch x := v.(type) {
	case netip.Prefix:
		p = x
	case string:
		s := x
		if !strings.Contains(s, "/") { // netaddr: a bare address is a host network
			a, err := netip.ParseAddr(s)
			if err != nil {
				return "", fmt.Errorf("%w: %s: %w", ErrInvalidValue, path, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		} else {
			q, err := netip.ParsePrefix(s)
			if err != nil {
				return "", fmt.Errorf("%w: %s: %w", ErrInvalidValue, path, err)
			}
			p = q
		}
	default:
		return "", typeError(path, "an IP network", v)
	}
	a := p.Addr()
	if !p.IsValid() || (k == KindIPV4Network && !a.Is4()) || (k == KindIPV6Network && !a.Is6()) {
		return "", fmt.Errorf("%w: %s: %q is not a valid %s", ErrInvalidValue, path, p, k)
	}
	return p.String(), nil
}

// toJSONText keeps a NetworkModel as the JSON text nova double-encodes it as.
func toJSONText(v any, path string) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.RawMessage:
		s = string(x)
	case []byte:
		s = string(x)
	default:
		return "", typeError(path, "a JSON string", v)
	}
	if !json.Valid([]byte(s)) {
		return "", fmt.Errorf("%w: %s: not valid JSON text", ErrInvalidValue, path)
	}
	return s, nil
}

func (m *Manifest) coerceList(ft *FieldType, v any, path string, depth int) (any, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, typeError(path, "a list", v)
	}
	if _, isBytes := v.([]byte); isBytes {
		return nil, typeError(path, "a list", v)
	}
	n := rv.Len()
	if ft.Kind == KindList && ft.Elem.Kind == KindObject {
		out := make([]*Object, 0, n)
		for i := 0; i < n; i++ {
			e, err := m.coerce(ft.Elem, rv.Index(i).Interface(), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			o, _ := e.(*Object)
			out = append(out, o)
		}
		return out, nil
	}
	out := make([]any, 0, n)
	for i := 0; i < n; i++ {
		e, err := m.coerce(ft.Elem, rv.Index(i).Interface(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		if ft.Kind == KindSet && containsValue(out, e) {
			continue
		}
		out = append(out, e)
	}
	if ft.Kind == KindSet {
		sortSet(out)
	}
	return out, nil
}

func (m *Manifest) coerceDict(ft *FieldType, v any, path string, depth int) (any, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, typeError(path, "a dict", v)
	}
	out := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		k := it.Key().String()
		e, err := m.coerce(ft.Elem, it.Value().Interface(), fmt.Sprintf("%s[%q]", path, k), depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = e
	}
	return out, nil
}

func (m *Manifest) coerceObject(ft *FieldType, v any, path string, depth int) (any, error) {
	var o *Object
	switch x := v.(type) {
	case *Object:
		o = x
	case map[string]any:
		d, err := m.fromPrimitive(x, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		o = d
	default:
		return nil, typeError(path, "an object of type "+ft.Object, v)
	}
	ok := o.name == ft.Object || (ft.Subclasses && o.class != nil && o.class.derivesFrom(ft.Object))
	if !ok {
		return nil, fmt.Errorf("%w: %s: want object of type %s, got %s", ErrInvalidValue, path, ft.Object, o.name)
	}
	return o, nil
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

// sortSet orders set elements so that encoding is deterministic (Python
// sends them in hash order, which for small integers is ascending).
func sortSet(s []any) {
	sort.SliceStable(s, func(i, j int) bool {
		switch a := s[i].(type) {
		case int64:
			if b, ok := s[j].(int64); ok {
				return a < b
			}
		case string:
			if b, ok := s[j].(string); ok {
				return a < b
			}
		}
		return fmt.Sprint(s[i]) < fmt.Sprint(s[j])
	})
}

// toPrimitive renders a coerced value as its wire form.
func toPrimitive(ft *FieldType, v any) any {
	var elem *FieldType
	if ft != nil {
		elem = ft.Elem
	}
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		return FormatTime(x)
	case *Object:
		if x == nil {
			return nil
		}
		return x.ToPrimitive()
	case []*Object:
		out := make([]any, len(x))
		for i, o := range x {
			out[i] = toPrimitive(elem, o)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toPrimitive(elem, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toPrimitive(elem, e)
		}
		return out
	}
	return v
}
