package deb

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// arMember is one file in an ar archive (the outer format of a .deb).
type arMember struct {
	Name string
	Size int64
}

// readAr calls fn for each member of the ar archive in r. fn must consume
// or ignore the member's reader before returning.
func readAr(r io.Reader, fn func(m arMember, body io.Reader) error) error {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return fmt.Errorf("not an ar archive")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(br, hdr); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("ar header: %w", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return fmt.Errorf("ar header: bad magic")
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("ar member %s: bad size", name)
		}
		body := io.LimitReader(br, size)
		if err := fn(arMember{Name: name, Size: size}, body); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("ar member %s: %w", name, err)
		}
		if size%2 == 1 {
			br.ReadByte() // members are 2-byte aligned
		}
	}
}
