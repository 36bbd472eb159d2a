package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// components name the parts of the root filesystem the size breakdown
// sums, by path prefix under the root; the first that matches wins, and
// a service's rootfs is one component each. A link is a hard link to
// another file: squashfs stores it once, so all of it repeats.
var components = []struct {
	name, prefix string
	link         bool
}{
	{"containerd (and ctr)", "usr/bin/containerd", false},
	{"containerd-shim-runc-v2", "usr/bin/containerd-shim-runc-v2", false},
	{"runc", "usr/bin/runc", false},
	{"crun", "usr/bin/crun", false},
	{"ctr (a hard link to containerd)", "usr/bin/ctr", true},
	{"PID 1 (init)", "usr/lib/berth/init", false},
	{"berthbox (hostctl and the services' programs)", "usr/bin/hostctl", false},
	{"kernel modules", "usr/lib/modules/", false},
	{"firmware", "usr/lib/firmware/", false},
	{"zoneinfo", "usr/share/zoneinfo/", false},
	{"gconv (iconv modules)", "usr/lib/x86_64-linux-gnu/gconv/", false},
}

// repeatBytes is the size from which a file of a size met before counts as
// a repeat whatever its name.
const repeatBytes = 64 << 10

// sizeRow is one component's files: their bytes uncompressed, and the
// bytes of those that repeat a file met before (same size and name, as
// mksquashfs stores identical files once).
type sizeRow struct {
	name         string
	bytes, dupes int64
	files        int
}

// rootfsBreakdown lists the root filesystem's files by component, largest
// first, from unsquashfs's listing of the image's squashfs.
func rootfsBreakdown(ctx context.Context, squashfs string) ([]sizeRow, error) {
	out, err := exec.CommandContext(ctx, "unsquashfs", "-lln", squashfs).Output()
	if err != nil {
		return nil, fmt.Errorf("unsquashfs -lln %s: %w", squashfs, err)
	}
	return breakdown(string(out))
}

// breakdown sums an unsquashfs -lln listing's regular files by component.
func breakdown(listing string) ([]sizeRow, error) {
	rows := map[string]*sizeRow{}
	seen := map[string]bool{}
	n := 0
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unsquashfs listing: %q: %w", line, err)
		}
		path := strings.TrimPrefix(strings.Join(f[5:], " "), "squashfs-root/")
		name, link := "everything else", false
		if rest, ok := strings.CutPrefix(path, "usr/lib/berth/services/"); ok {
			svc, _, _ := strings.Cut(rest, "/")
			name = "service " + svc + " (rootfs)"
		} else {
			for _, c := range components {
				if path == c.prefix || strings.HasSuffix(c.prefix, "/") && strings.HasPrefix(path, c.prefix) {
					name, link = c.name, c.link
					break
				}
			}
		}
		r := rows[name]
		if r == nil {
			r = &sizeRow{name: name}
			rows[name] = r
		}
		r.bytes += size
		r.files++
		// The listing shows no inodes: a large file of a size met
		// before is taken for the same file (berthbox's links have
		// other names), a small one only with the same name too.
		k := fmt.Sprint(size)
		if size < repeatBytes {
			k += " " + path[strings.LastIndex(path, "/")+1:]
		}
		if seen[k] || link {
			r.dupes += size
		} else {
			seen[k] = true
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("unsquashfs listing: no regular file")
	}
	return largestFirst(rows, func(r sizeRow) int64 { return r.bytes }), nil
}
