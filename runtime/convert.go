package runtime

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"go.starlark.net/starlark"
)

// toGo converts a Starlark argument to the Go values modules receive:
// string, int64, float64, bool, []any, map[string]any, nil. Hosts become
// their names; unknowns are returned as *Unknown so callers can detect them.
func toGo(v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		return string(v), nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		i, ok := v.Int64()
		if !ok {
			return nil, fmt.Errorf("integer %s out of range", v)
		}
		return i, nil
	case starlark.Float:
		return float64(v), nil
	case *Host:
		return v.address, nil
	case *Unknown:
		return v, nil
	case *Group:
		out := make([]any, len(v.hosts))
		for i, h := range v.hosts {
			out[i] = h.name
		}
		return out, nil
	case *starlark.List, starlark.Tuple:
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		out := []any{}
		var x starlark.Value
		for it.Next(&x) {
			g, err := toGo(x)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, kv := range v.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict keys must be strings, got %s", kv[0].Type())
			}
			g, err := toGo(kv[1])
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", string(k), err)
			}
			out[string(k)] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot pass a %s to a module", v.Type())
}

// hasUnknown reports whether a converted value contains an unknown, and why.
func hasUnknown(v any) (string, bool) {
	switch v := v.(type) {
	case *Unknown:
		return v.why, true
	case []any:
		for _, x := range v {
			if w, ok := hasUnknown(x); ok {
				return w, true
			}
		}
	case map[string]any:
		for _, x := range v {
			if w, ok := hasUnknown(x); ok {
				return w, true
			}
		}
	}
	return "", false
}

// toStarlark converts module outputs and variables to Starlark values.
func toStarlark(v any) starlark.Value {
	switch v := v.(type) {
	case nil:
		return starlark.None
	case starlark.Value:
		return v
	case string:
		return starlark.String(v)
	case bool:
		return starlark.Bool(v)
	case int:
		return starlark.MakeInt(v)
	case int64:
		return starlark.MakeInt64(v)
	case uint64:
		return starlark.MakeUint64(v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return starlark.MakeInt64(int64(v))
		}
		return starlark.Float(v)
	case []string:
		l := make([]starlark.Value, len(v))
		for i, x := range v {
			l[i] = starlark.String(x)
		}
		return starlark.NewList(l)
	case []any:
		l := make([]starlark.Value, len(v))
		for i, x := range v {
			l[i] = toStarlark(x)
		}
		return starlark.NewList(l)
	case map[string]string:
		d := starlark.NewDict(len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			d.SetKey(starlark.String(k), starlark.String(v[k]))
		}
		return d
	case map[string]any:
		d := starlark.NewDict(len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			d.SetKey(starlark.String(k), toStarlark(v[k]))
		}
		return d
	case map[any]any:
		d := starlark.NewDict(len(v))
		for k, x := range v {
			d.SetKey(starlark.String(fmt.Sprint(k)), toStarlark(x))
		}
		return d
	}
	return starlark.String(fmt.Sprint(v))
}
