// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A flagSpec describes one command-line option. Options may take zero, one
// or two values (-e KEY VALUE), may repeat, and may be given as --name=value.
type flagSpec struct {
	names []string // "--port", "-p"
	nargs int
	meta  string // names the values in help, e.g. "KEY VALUE"
	help  string
	group string
	set   func(vals []string) error
	// optional, if set, makes the one value optional: the next argument is
	// taken as the value only when optional(arg) is true (or with =value);
	// otherwise set gets no values.
	optional func(arg string) bool
}

type flagSet struct {
	specs []*flagSpec
	byKey map[string]*flagSpec
	// sawDashDash is set by parse when the positional arguments followed
	// an explicit "--".
	sawDashDash bool
}

func (fs *flagSet) add(f *flagSpec) {
	if fs.byKey == nil {
		fs.byKey = map[string]*flagSpec{}
	}
	fs.specs = append(fs.specs, f)
	for _, n := range f.names {
		fs.byKey[n] = f
	}
}

func (fs *flagSet) boolVar(p *bool, name, neg, group, help string) {
	fs.add(&flagSpec{names: []string{name}, group: group, help: help, set: func([]string) error { *p = true; return nil }})
	if neg != "" {
		fs.add(&flagSpec{names: []string{neg}, group: group, set: func([]string) error { *p = false; return nil }})
	}
}

func (fs *flagSet) stringVar(p *string, names []string, meta, group, help string) {
	fs.add(&flagSpec{names: names, nargs: 1, meta: meta, group: group, help: help, set: func(v []string) error { *p = v[0]; return nil }})
}

func (fs *flagSet) listVar(p *[]string, names []string, meta, group, help string) {
	fs.add(&flagSpec{names: names, nargs: 1, meta: meta, group: group, help: help, set: func(v []string) error { *p = append(*p, v[0]); return nil }})
}

func (fs *flagSet) intVar(p *int, names []string, meta, group, help string) {
	fs.add(&flagSpec{names: names, nargs: 1, meta: meta, group: group, help: help, set: func(v []string) error {
		n, err := strconv.Atoi(v[0])
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v[0])
		}
		*p = n
		return nil
	}})
}

func (fs *flagSet) durationVar(p *time.Duration, names []string, group, help string) {
	fs.add(&flagSpec{names: names, nargs: 1, meta: "DURATION", group: group, help: help, set: func(v []string) error {
		d, err := time.ParseDuration(v[0])
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 5m, got %q", v[0])
		}
		*p = d
		return nil
	}})
}

func (fs *flagSet) pairVar(p *[][2]string, names []string, meta, group, help string) {
	fs.add(&flagSpec{names: names, nargs: 2, meta: meta, group: group, help: help, set: func(v []string) error {
		*p = append(*p, [2]string{v[0], v[1]})
		return nil
	}})
}

var errHelp = errors.New("help requested")

// parseCommand is parse for a command: on -h or --help it prints the
// command's usage text and its options by group to stdout and returns
// errHelp; any other failure is a usage error.
func (fs *flagSet) parseCommand(args []string, usage string, groups []string, stdout io.Writer) ([]string, error) {
	rest, err := fs.parse(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage+fs.usage(groups))
		return nil, errHelp
	}
	if err != nil {
		return nil, usageError{err}
	}
	return rest, nil
}

// parse consumes options up to the first positional argument (or "--"); the
// positional argument and everything after it are returned untouched, so a
// child command's own flags never need quoting.
func (fs *flagSet) parse(args []string) ([]string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			fs.sawDashDash = true
			return args[i+1:], nil
		}
		if a == "-h" || a == "--help" {
			return nil, errHelp
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return args[i:], nil
		}
		name, inline, hasInline := strings.Cut(a, "=")
		f, ok := fs.byKey[name]
		if !ok {
			return nil, fmt.Errorf("unknown option %s (see --help)", name)
		}
		var vals []string
		if hasInline {
			if f.nargs != 1 {
				return nil, fmt.Errorf("option %s does not take =value", name)
			}
			vals = []string{inline}
		} else if f.optional != nil {
			if i+1 < len(args) && f.optional(args[i+1]) {
				vals = args[i+1 : i+2]
				i++
			}
		} else {
			if f.nargs > 0 && i+f.nargs >= len(args) {
				return nil, fmt.Errorf("option %s needs %d value(s): %s", name, f.nargs, f.meta)
			}
			vals = args[i+1 : i+1+f.nargs]
			i += f.nargs
		}
		if err := f.set(vals); err != nil {
			return nil, fmt.Errorf("option %s: %w", name, err)
		}
	}
	return nil, nil
}

// usage formats the options by group.
func (fs *flagSet) usage(groups []string) string {
	var b strings.Builder
	byGroup := map[string][]*flagSpec{}
	for _, f := range fs.specs {
		if f.help == "" {
			continue
		}
		byGroup[f.group] = append(byGroup[f.group], f)
	}
	for _, g := range groups {
		specs := byGroup[g]
		if len(specs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", g)
		for _, f := range specs {
			left := strings.Join(f.names, ", ")
			if f.meta != "" {
				left += " " + f.meta
			}
			fmt.Fprintf(&b, "  %-34s %s\n", left, f.help)
		}
	}
	return b.String()
}

// splitCommand splits a command line the way a POSIX shell would split
// words: whitespace separates, single quotes are literal, double quotes allow
// backslash escapes.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated double quote in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
