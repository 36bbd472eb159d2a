package pattern

import (
	"slices"
	"testing"
)

// New compiles nothing: a bad expression panics at its first use, not
// at New (at program start, for a package-level one).
func TestCompiledAtFirstUse(t *testing.T) {
	bad := New(`(`)
	defer func() {
		if recover() == nil {
			t.Error("a bad expression matched without a panic")
		}
	}()
	bad.MatchString("x")
}

func TestMethods(t *testing.T) {
	r := New(`^(a+)(b?)$`)
	if !r.MatchString("aab") || r.MatchString("abc") {
		t.Error("MatchString")
	}
	if got := r.FindStringSubmatch("aa"); !slices.Equal(got, []string{"aa", "aa", ""}) {
		t.Errorf("FindStringSubmatch = %q", got)
	}
	if got := New(`[0-9]+`).ReplaceAllString("a1b22", "#"); got != "a#b#" {
		t.Errorf("ReplaceAllString = %q", got)
	}
	if r.String() != `^(a+)(b?)$` {
		t.Errorf("String = %q", r.String())
	}
}
