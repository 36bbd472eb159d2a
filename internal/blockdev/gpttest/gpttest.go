// Package gpttest makes small GPT disk images for tests.
package gpttest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Image is a 4 MiB disk with sectors of ss bytes, disk GUID diskGUID ("" for
// a random one) and a GPT of one 8-sector partition per GUID in guids.
func Image(t testing.TB, ss int, diskGUID string, guids ...string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 4 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	tbl := &gpt.Table{LogicalSectorSize: ss, PhysicalSectorSize: ss, ProtectiveMBR: true, GUID: diskGUID}
	for i, g := range guids {
		tbl.Partitions = append(tbl.Partitions, &gpt.Partition{Index: i + 1, Start: uint64(64 + 8*i), End: uint64(64 + 8*i + 7),
			Size: uint64(8 * ss), Type: gpt.LinuxFilesystem, GUID: g})
	}
	if err := tbl.Write(f, size); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
