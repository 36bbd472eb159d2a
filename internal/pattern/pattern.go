// Package pattern holds regular expressions compiled at their first use
// rather than at program start. The packages that berthbox links (cloud-
// config, sysctl, the network config) run their initialisers in every
// service berthbox runs as, most of which never match a pattern: a
// package-level regexp.MustCompile would cost each of them the compile's
// time and heap at every start.
package pattern

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled once, when a method first needs
// it. An expression that does not compile panics there, as MustCompile
// would at start: the tests of each package that declares one reach it.
type Regexp struct {
	expr string
	re   func() *regexp.Regexp
}

// New returns expr, to be compiled at its first use.
func New(expr string) *Regexp {
	return &Regexp{expr: expr, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString is regexp.Regexp's.
func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

// FindStringSubmatch is regexp.Regexp's.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }

// ReplaceAllString is regexp.Regexp's.
func (r *Regexp) ReplaceAllString(src, repl string) string { return r.re().ReplaceAllString(src, repl) }

// String is the expression.
func (r *Regexp) String() string { return r.expr }
