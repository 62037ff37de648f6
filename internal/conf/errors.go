package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// Warning is a problem that does not stop the node, such as an unknown key.
type Warning struct {
	Path string // dotted key path, e.g. apisix.node_lisen
	Msg  string
	Line int // line in the file, 0 when unknown
}

// String renders "path: msg", e.g. "apisix.node_lisen: unknown key".
func (w Warning) String() string { return w.Path + ": " + w.Msg }

// Error is an invalid value at one key of a configuration file.
type Error struct {
	File string // as given to Load or Parse
	Line int    // 0 when unknown (a default value, or a check across keys)
	Path string // dotted key path, e.g. deployment.admin.admin_key[1].role
	Msg  string
}

// Error renders "file:line: path: msg", dropping the parts that are unknown.
func (e *Error) Error() string {
	s := ""
	if e.File != "" {
		s = e.File
		if e.Line > 0 {
			s += ":" + strconv.Itoa(e.Line)
		}
		s += ": "
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Msg
}

// problems collects the errors and warnings of one read, with the line of every key seen so
// that checks run after decoding can still point at the file.
type problems struct {
	source   string
	lines    map[string]int
	errs     []error
	warnings []Warning
}

// fail records an error at path unless path or a key above it already has one: a port left at
// 0 by a malformed listen entry would only repeat the first error.
func (p *problems) fail(path, format string, args ...any) {
	for _, err := range p.errs {
		if e, ok := err.(*Error); ok && within(path, e.Path) {
			return
		}
	}
	p.errs = append(p.errs, &Error{File: p.source, Line: p.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) warn(path, msg string) {
	p.warnings = append(p.warnings, Warning{Path: path, Msg: msg, Line: p.lineOf(path)})
}

// lineOf is the line of path, or of its nearest ancestor for a key the file leaves out.
func (p *problems) lineOf(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0 // a key under a section the file does not have
		}
		path = path[:i]
	}
}

// within reports whether path is under (or is) parent; the top level "" is under nothing.
func within(path, parent string) bool {
	if parent == "" || !strings.HasPrefix(path, parent) {
		return false
	}
	rest := path[len(parent):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
