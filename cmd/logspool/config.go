package main

// The --config file: a YAML mapping whose keys are flag names. Each value is
// coerced from whatever YAML made of it (an int, a time, a boolean word, null,
// one string where a list is expected) to the text the flag parses, so that
// every form the docs show works, and a wrong one is refused with the file,
// the line, the key, what was expected and an example.
//
// The coercion is generic over the flag's type (string, bool, int, duration,
// lists, ...); a flag built with sizeFlag(), oneOf() or shaped() also has its
// value checked against its shape here, so a wrong size in the file is
// reported with its line, not later without one.

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// shape says what a flag's value must look like: for error messages and for
// checking values from the file.
type shape struct {
	want    string             // "a size such as 64KiB, 1MiB or 1048576"
	example string             // a valid value, shown as key: example
	check   func(string) error // nil: the flag's type decides
}

// shapedFlag is a string flag whose values have a shape (a size, one of a few
// words, a time). It is a *cli.StringFlag for everything else.
type shapedFlag struct {
	*cli.StringFlag
	shape shape
}

// flagShape returns what f's value must look like: its own shape, else one
// derived from its type.
func flagShape(f cli.Flag) shape {
	if sf, ok := f.(*shapedFlag); ok {
		return sf.shape
	}
	ex := defaultText(f)
	switch base(f).(type) {
	case *cli.BoolFlag:
		return shape{want: "true or false", example: "true"}
	case *cli.IntFlag, *cli.Int64Flag:
		return shape{want: "a whole number", example: orDefault(ex, "4"), check: checkInt}
	case *cli.UintFlag, *cli.Uint64Flag:
		return shape{want: "a whole number, 0 or more", example: orDefault(ex, "4"), check: checkUint}
	case *cli.Float64Flag:
		return shape{want: "a number", example: orDefault(ex, "1.5"), check: checkFloat}
	case *cli.DurationFlag:
		return shape{want: "a duration such as 30s, 5m or 1h30m", example: durationExample(ex), check: checkDuration}
	case *cli.StringSliceFlag:
		return shape{want: "a list of strings, or one string", example: orDefault(ex, "value")}
	case *cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.UintSliceFlag, *cli.Uint64SliceFlag, *cli.Float64SliceFlag:
		return shape{want: "a list of numbers, or one number", example: orDefault(ex, "1")}
	case *cli.TimestampFlag:
		return shape{want: "a time", example: orDefault(ex, "2024-05-01T00:00:00Z")}
	}
	return shape{want: "a string", example: orDefault(ex, "value")}
}

// base unwraps flags that embed a urfave/cli flag (shapedFlag, altsrc's
// wrappers, any struct whose first field is an embedded cli.Flag).
func base(f cli.Flag) cli.Flag {
	for {
		if sf, ok := f.(*shapedFlag); ok {
			return sf.StringFlag
		}
		v := reflect.ValueOf(f)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || v.Elem().NumField() == 0 {
			return f
		}
		field := v.Elem().Type().Field(0)
		inner, ok := v.Elem().Field(0).Interface().(cli.Flag)
		if !field.Anonymous || !ok || reflect.ValueOf(inner).IsNil() {
			return f
		}
		switch base := inner.(type) {
		case *cli.StringFlag, *cli.BoolFlag, *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag,
			*cli.Float64Flag, *cli.DurationFlag, *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag,
			*cli.UintSliceFlag, *cli.Uint64SliceFlag, *cli.Float64SliceFlag, *cli.TimestampFlag, *cli.PathFlag,
			*cli.GenericFlag:
			return base
		}
		f = inner
	}
}

// isList reports whether f takes a list.
func isList(f cli.Flag) bool {
	sf, ok := base(f).(interface{ IsSliceFlag() bool })
	return ok && sf.IsSliceFlag()
}

func isBool(f cli.Flag) bool {
	_, ok := base(f).(*cli.BoolFlag)
	return ok
}

// isString reports whether an empty value is a value of f ("empty: off").
func isString(f cli.Flag) bool {
	switch base(f).(type) {
	case *cli.StringFlag, *cli.PathFlag:
		return true
	}
	return false
}

// defaultText is f's default as the help shows it, without quotes; lists
// give their first element.
func defaultText(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	s := df.GetDefaultText()
	if s == "" {
		s = df.GetValue()
	}
	s, _, _ = strings.Cut(s, ", ")
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" || s == "0" || s == "0s" {
		return def
	}
	return s
}

// durationExample shortens a default such as 5m0s to 5m.
func durationExample(s string) string {
	if s == "" || s == "0s" {
		return "30s"
	}
	for _, suffix := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, suffix) {
			s = strings.TrimSuffix(s, suffix[1:])
		}
	}
	return s
}

func checkInt(s string) error {
	_, err := strconv.ParseInt(s, 0, 64)
	return err
}

func checkUint(s string) error {
	_, err := strconv.ParseUint(s, 0, 64)
	return err
}

func checkFloat(s string) error {
	_, err := strconv.ParseFloat(s, 64)
	return err
}

func checkDuration(s string) error {
	_, err := time.ParseDuration(s)
	return err
}

// boolWords are the boolean spellings of the file (YAML 1.1's and
// strconv.ParseBool's), lower case.
var boolWords = map[string]string{
	"true": "true", "yes": "true", "y": "true", "on": "true", "1": "true", "t": "true",
	"false": "false", "no": "false", "n": "false", "off": "false", "0": "false", "f": "false",
}

// fileValue is one setting read from the file, coerced to the text(s) its
// flag parses.
type fileValue struct {
	line  int
	items []string // one for a scalar flag; any number for a list
}

// configFile is the --config file, read and checked against the flags.
type configFile struct {
	path   string
	values map[string]fileValue // by flag name
}

// loadConfigFile reads path and checks every key and value against flags.
func loadConfigFile(path string, flags []cli.Flag) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	cf := &configFile{path: path, values: map[string]fileValue{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &configError{where: "config file " + path, why: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return cf, nil // empty, or only comments
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cf, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, lineError(path, root.Line, "want one setting per line as key: value, keys being flag names (e.g. spool-dir: /var/lib/logspool)")
	}
	byName := map[string]cli.Flag{}
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != "config" {
				byName[n] = f
				names = append(names, n)
			}
		}
	}
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, lineError(path, k.Line, "a key must be a flag name, not a list or mapping"))
			continue
		}
		if first, dup := seen[key]; dup {
			errs = append(errs, keyError(path, k.Line, key, fmt.Sprintf("appears twice (first on line %d)", first), ""))
			continue
		}
		seen[key] = k.Line
		if key == "config" {
			errs = append(errs, keyError(path, k.Line, key, "cannot be set inside the config file; use --config or LOGSPOOL_CONFIG", ""))
			continue
		}
		f, ok := byName[key]
		if !ok {
			hint := "keys are flag names without the dashes, e.g. es-url, spool-dir"
			if s := closest(key, names); s != "" {
				hint = "did you mean " + s + "?"
			}
			errs = append(errs, keyError(path, k.Line, key, "unknown key ("+hint+")", ""))
			continue
		}
		items, err := coerce(path, key, f, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cf.values[f.Names()[0]] = fileValue{line: k.Line, items: items}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cf, nil
}

// coerce turns the YAML value v of key into the text(s) flag f parses, or
// says what was wrong.
func coerce(path, key string, f cli.Flag, v *yaml.Node) ([]string, error) {
	sh := flagShape(f)
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	null := v.Kind == yaml.ScalarNode && v.Tag == "!!null"
	if isList(f) {
		var nodes []*yaml.Node
		switch {
		case null:
			return []string{}, nil // empty: none
		case v.Kind == yaml.ScalarNode:
			nodes = []*yaml.Node{v}
		case v.Kind == yaml.SequenceNode:
			nodes = v.Content
		default:
			return nil, keyError(path, v.Line, key, "want "+sh.want, key+": ["+sh.example+"]")
		}
		items := make([]string, 0, len(nodes))
		for _, n := range nodes {
			if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
				return nil, keyError(path, n.Line, key, "want "+sh.want+", each item a single value", key+": ["+sh.example+"]")
			}
			items = append(items, n.Value)
		}
		return items, nil
	}
	if v.Kind != yaml.ScalarNode {
		return nil, keyError(path, v.Line, key, "want "+sh.want+", not a list or mapping", key+": "+sh.example)
	}
	text := v.Value
	if null {
		if !isString(f) {
			return nil, keyError(path, v.Line, key, "empty, want "+sh.want, key+": "+sh.example)
		}
		text = "" // empty: off / none / the default's meaning, as the flag documents
	}
	if isBool(f) {
		b, ok := boolWords[strings.ToLower(text)]
		if !ok {
			return nil, badValue(path, v.Line, key, text, sh)
		}
		return []string{b}, nil
	}
	if sh.check != nil && !(null && isString(f)) {
		if err := sh.check(text); err != nil {
			return nil, badValue(path, v.Line, key, text, sh)
		}
	}
	return []string{text}, nil
}

// closest returns the known name nearest to key when it is a likely typo.
func closest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(key, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// apply sets every file value whose flag was not set on the command line or
// in the environment (flag > env > file > default). Lists replace the
// default as a whole.
func (cf *configFile) apply(c *cli.Context, flags []cli.Flag) error {
	for _, f := range flags {
		name := f.Names()[0]
		fv, ok := cf.values[name]
		if !ok || c.IsSet(name) {
			continue
		}
		var err error
		if _, isStrings := base(f).(*cli.StringSliceFlag); isStrings {
			// One serialized value replaces the list as a whole, and keeps
			// commas inside items.
			err = c.Set(name, cli.NewStringSlice(fv.items...).Serialize())
		} else if isList(f) && len(fv.items) == 0 {
			continue
		} else {
			for _, it := range fv.items {
				if err = c.Set(name, it); err != nil {
					break
				}
			}
		}
		if err != nil {
			return badValue(cf.path, fv.line, name, strings.Join(fv.items, ","), flagShape(f))
		}
		origins(c)[name] = origin{file: cf.path, line: fv.line}
	}
	return nil
}

// origin is where a setting's value came from, when it came from the file.
type origin struct {
	file string
	line int
}

const originsKey = "logspool.config-origins"

// origins maps flag names to the file line their value came from.
func origins(c *cli.Context) map[string]origin {
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	m, ok := c.App.Metadata[originsKey].(map[string]origin)
	if !ok {
		m = map[string]origin{}
		c.App.Metadata[originsKey] = m
	}
	return m
}

// withConfigFile wires the YAML file named by --config into flags: unknown
// keys and wrong values are refused (a misspelled setting must not be
// silently ignored).
func withConfigFile(flags []cli.Flag) cli.BeforeFunc {
	return func(c *cli.Context) error {
		path := c.String("config")
		if path == "" {
			return nil
		}
		cf, err := loadConfigFile(path, flags)
		if err != nil {
			return cli.Exit(err, 2)
		}
		if err := cf.apply(c, flags); err != nil {
			return cli.Exit(err, 2)
		}
		c.App.Metadata["logspool.config-file"] = cf
		return nil
	}
}

// changedKeys returns the keys whose value in next differs from cf's, in
// order: what a reload would have to apply.
func (cf *configFile) changedKeys(next *configFile) []string {
	var keys []string
	for k, v := range next.values {
		if old, ok := cf.values[k]; !ok || strings.Join(old.items, "\x00") != strings.Join(v.items, "\x00") {
			keys = append(keys, k)
		}
	}
	for k := range cf.values {
		if _, ok := next.values[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
