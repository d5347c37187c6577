package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// decodeValue assigns a JSON-decoded config value to target (a pointer),
// collecting a problem with its config path for every unknown key and every
// value of the wrong type instead of stopping at the first, so one preview
// reports everything.
//
// It is lenient where Pulumi is: `pulumi config set --path` stores scalars as
// strings, so "22" is accepted for an integer and "true" for a boolean.
func decodeValue(path string, raw string, target any) []Problem {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []Problem{{Path: path, Msg: fmt.Sprintf("is not valid structured config: %v", err)}}
	}
	var probs []Problem
	assign(path, v, reflect.ValueOf(target).Elem(), &probs)
	return probs
}

func assign(path string, v any, dst reflect.Value, probs *[]Problem) {
	bad := func(expected string) {
		*probs = append(*probs, Problem{Path: path, Msg: fmt.Sprintf("expected %s, got %s", expected, describe(v))})
	}
	if v == nil {
		return // null means unset: keep the zero value, defaults fill it
	}
	switch dst.Kind() {
	case reflect.Pointer:
		elem := reflect.New(dst.Type().Elem())
		before := len(*probs)
		assign(path, v, elem.Elem(), probs)
		if len(*probs) == before {
			dst.Set(elem)
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		fields := jsonFields(dst.Type())
		for _, k := range sortedKeys(m) {
			i, ok := fields[k]
			if !ok {
				*probs = append(*probs, Problem{Path: join(path, k), Msg: fmt.Sprintf("unknown key; expected one of %s", strings.Join(fieldNames(dst.Type()), ", "))})
				continue
			}
			assign(join(path, k), m[k], dst.Field(i), probs)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, item := range list {
			assign(fmt.Sprintf("%s[%d]", path, i), item, out.Index(i), probs)
		}
		dst.Set(out)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m))
		for _, k := range sortedKeys(m) {
			elem := reflect.New(dst.Type().Elem()).Elem()
			assign(join(path, k), m[k], elem, probs)
			out.SetMapIndex(reflect.ValueOf(k), elem)
		}
		dst.Set(out)
	case reflect.String:
		switch s := v.(type) {
		case string:
			dst.SetString(s)
		case json.Number:
			dst.SetString(s.String()) // YAML turns 1.32 into a number
		default:
			bad("a string")
		}
	case reflect.Int:
		var n int64
		var err error
		switch s := v.(type) {
		case json.Number:
			n, err = s.Int64()
		case string:
			n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		default:
			bad("an integer")
			return
		}
		if err != nil {
			bad("an integer")
			return
		}
		dst.SetInt(n)
	case reflect.Bool:
		switch s := v.(type) {
		case bool:
			dst.SetBool(s)
		case string:
			b, err := strconv.ParseBool(s)
			if err != nil || (s != "true" && s != "false") {
				bad("true or false")
				return
			}
			dst.SetBool(b)
		default:
			bad("true or false")
		}
	default:
		panic(fmt.Sprintf("stacks: unsupported config field kind %s at %s", dst.Kind(), path))
	}
}

// describe renders a value for an error message; strings are quoted so an
// empty or space-padded value is visible.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return strings.TrimSpace(b.String())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonFields maps a struct's JSON keys to field indexes.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			out[name] = i
		}
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}
