package main

import (
	"fmt"
	"strings"
)

// A field is what one line of a script's output gives: scan reads a line
// and says whether it was that line; what names it in the error when no
// line was.
type field struct {
	what string
	scan func(line string) bool
}

// sscan is a field's scan that is fmt.Sscanf with format into args.
func sscan(format string, args ...any) func(string) bool {
	return func(line string) bool {
		_, err := fmt.Sscanf(line, format, args...)
		return err == nil
	}
}

// scanLines offers each line of s (trimmed, carriage returns dropped) to
// every field, and fails naming the first field no line gave.
func scanLines(s string, fields ...field) error {
	seen := make([]bool, len(fields))
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		line = strings.TrimSpace(line)
		for i, f := range fields {
			if f.scan(line) {
				seen[i] = true
			}
		}
	}
	for i, f := range fields {
		if !seen[i] {
			return fmt.Errorf("no %s in %q", f.what, s)
		}
	}
	return nil
}
