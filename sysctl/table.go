package sysctl

// The table of the kernel's sysctls (kernel.txt), so that a setting is
// checked before it is applied: its name must be one the kernel has, and
// its value of the shape the kernel shows.

import (
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-os/berth/internal/pattern"
	"github.com/berth-os/berth/internal/strictyaml"
)

// Shape is what a sysctl's value looks like.
type Shape int

// The shapes, narrowest first.
const (
	Number  Shape = iota // one integer: vm.swappiness
	Numbers              // several integers: net.ipv4.ip_local_port_range
	String               // anything: kernel.core_pattern, net.core.default_qdisc
	Any                  // write-only, so not known: vm.drop_caches
)

var shapeNames = []string{"number", "numbers", "string", "any"}

func (s Shape) String() string { return shapeNames[s] }

// Param is one sysctl of the table.
type Param struct {
	// Name is dotted; <iface> stands for the name of a network interface
	// (net.ipv4.conf.<iface>.rp_filter).
	Name  string
	Shape Shape
	// Count is how many numbers the kernel showed, for Numbers: a value
	// may give fewer, not more.
	Count int
	// ReadOnly sysctls only report.
	ReadOnly bool
}

// Iface stands for an interface name in the names of the table.
const Iface = "<iface>"

// String is the param's line in the table.
func (p Param) String() string {
	s := p.Name + " " + p.Shape.String()
	if p.Shape == Numbers {
		s += ":" + strconv.Itoa(p.Count)
	}
	if p.ReadOnly {
		s += " ro"
	}
	return s
}

// ShapeOf is the shape of a value as the kernel shows it; readable is
// false for a write-only sysctl.
func ShapeOf(value string, readable bool) (Shape, int) {
	if !readable {
		return Any, 0
	}
	f := strings.Fields(value)
	if len(f) == 0 {
		return String, 0
	}
	for _, x := range f {
		if !intRe.MatchString(x) {
			return String, 0
		}
	}
	if len(f) == 1 {
		return Number, 1
	}
	return Numbers, len(f)
}

var intRe = pattern.New(`^-?[0-9]+$`)

// ifaceRe matches the names that hold an interface: the interface is the
// part between the prefix and the last element.
var ifaceRe = pattern.New(`^(net\.ipv[46]\.(?:conf|neigh))\.(.+)\.([^.]+)$`)

// Pattern is a sysctl name as the table has it: an interface other than
// all and default becomes <iface>.
func Pattern(name string) string {
	m := ifaceRe.FindStringSubmatch(name)
	if m == nil || m[2] == "all" || m[2] == "default" {
		return name
	}
	return m[1] + "." + Iface + "." + m[3]
}

// Table is a set of sysctls by name.
type Table map[string]Param

// ParseTable reads a table: a line per sysctl, "name shape[:count] [ro]",
// and # comments.
func ParseTable(text, source string) (Table, error) {
	t := Table{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "ro") {
			return nil, fmt.Errorf("%s:%d: expected name shape [ro], got %q", source, i+1, line)
		}
		p := Param{Name: f[0], ReadOnly: len(f) == 3}
		shape, count, _ := strings.Cut(f[1], ":")
		switch shape {
		case "number":
			p.Shape, p.Count = Number, 1
		case "numbers":
			n, err := strconv.Atoi(count)
			if err != nil || n < 2 {
				return nil, fmt.Errorf("%s:%d: expected numbers:N with N of 2 or more, got %q", source, i+1, f[1])
			}
			p.Shape, p.Count = Numbers, n
		case "string":
			p.Shape = String
		case "any":
			p.Shape = Any
		default:
			return nil, fmt.Errorf("%s:%d: unknown shape %q (expected number, numbers:N, string or any)", source, i+1, f[1])
		}
		if _, dup := t[p.Name]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", source, i+1, p.Name)
		}
		t[p.Name] = p
	}
	return t, nil
}

// Format writes the table, sorted, after a header of comment lines.
func (t Table) Format(header string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		b.WriteString("# " + l + "\n")
	}
	for _, n := range t.Names() {
		b.WriteString(t[n].String() + "\n")
	}
	return b.String()
}

// Names lists the table's names, sorted.
func (t Table) Names() []string {
	out := make([]string, 0, len(t))
	for n := range t {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Add puts a sysctl the kernel showed into the table, under its pattern.
// The same pattern seen twice (two interfaces) keeps the wider shape.
func (t Table) Add(name, value string, readable, writable bool) {
	shape, count := ShapeOf(value, readable)
	p := Param{Name: Pattern(name), Shape: shape, Count: count, ReadOnly: !writable}
	if old, ok := t[p.Name]; ok {
		p.ReadOnly = p.ReadOnly && old.ReadOnly
		if old.Shape > p.Shape || (old.Shape == p.Shape && old.Count > p.Count) {
			p.Shape, p.Count = old.Shape, old.Count
		}
	}
	t[p.Name] = p
}

// Lookup finds the sysctl a name is, directly or through its pattern.
func (t Table) Lookup(name string) (Param, bool) {
	if p, ok := t[name]; ok {
		return p, true
	}
	p, ok := t[Pattern(name)]
	return p, ok
}

// Check says whether a sysctl may be set to value: the table has it, it
// is not read-only, and the value has its shape. The error says what was
// expected, and for an unknown name which known one is close.
func (t Table) Check(name, value string) error {
	p, ok := t.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown sysctl: Berth's kernel has no %s%s", name, t.suggest(name))
	}
	if p.ReadOnly {
		return fmt.Errorf("%s is read-only: the kernel only reports it", name)
	}
	f := strings.Fields(value)
	switch p.Shape {
	case Number:
		if len(f) != 1 || !intRe.MatchString(f[0]) {
			return fmt.Errorf("expected a number, got %q", value)
		}
	case Numbers:
		ok := len(f) >= 1 && len(f) <= p.Count
		for _, x := range f {
			ok = ok && intRe.MatchString(x)
		}
		if !ok {
			return fmt.Errorf("expected up to %d numbers separated by spaces, such as %q, got %q", p.Count, example(p.Count), value)
		}
	}
	return nil
}

func example(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i + 1)
	}
	return strings.Join(s, " ")
}

// suggest is " (did you mean X?)" for the known name closest to name, in
// the same top-level folder; "" when none is close.
func (t Table) suggest(name string) string {
	top, _, _ := strings.Cut(name, ".")
	m := ifaceRe.FindStringSubmatch(name)
	var cands []string
	for n := range t {
		if !strings.HasPrefix(n, top+".") {
			continue
		}
		if m != nil {
			n = strings.Replace(n, Iface, m[2], 1)
		}
		cands = append(cands, n)
	}
	if s := strictyaml.Suggest(name, cands); strings.HasPrefix(s, " (did you mean") {
		return s
	}
	return ""
}

//go:embed kernel.txt
var kernelTable string

var (
	kernelOnce sync.Once
	kernel     Table
	kernelErr  error
)

// Kernel is the table of Berth's kernel, kernel.txt, which a QEMU test
// compares with the booted kernel's /proc/sys (and rewrites with
// -berth.update-sysctls).
func Kernel() Table {
	kernelOnce.Do(func() { kernel, kernelErr = ParseTable(kernelTable, "sysctl/kernel.txt") })
	if kernelErr != nil {
		panic(kernelErr) // a test parses it
	}
	return kernel
}

// KernelTableHeader is the comment at the top of kernel.txt.
const KernelTableHeader = `The sysctls of Berth's kernel and the shape of their values: number, numbers:N
(up to N integers, such as net.ipv4.ip_local_port_range), string, any (write-only);
ro marks a read-only one. <iface> stands for a network interface name.
Generated from the booted kernel's /proc/sys, after loading the modules that
add sysctls (` + "`modprobe -a xfs nfs`" + `), by
go test -tags qemu ./test/ -run <a test calling checkSysctlTable> -berth.update-sysctls
Do not edit by hand.`
