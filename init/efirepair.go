package main

// A power cut while PID 1 writes the EFI partition (an upgrade's kernel
// and initrd, above all) can leave clusters that the FAT marks as used
// but no directory entry holds: the file's entry never reached the disk,
// or held it at size 0. Nothing frees them, and a few such cuts fill the
// 64 MiB partition, so that the next upgrade fails with "no space left on
// device". Before each read-write mount, fsck.fat repairs the partition;
// it salvages those clusters to FSCKnnnn.REC in the root folder, which
// are then removed: they only ever hold a cut-short write.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/init/mounts"
)

// fsckFat is the host root's fsck.fat (dosfstools).
const fsckFat = "/usr/sbin/fsck.fat"

// fsckOutputMax caps what is kept of fsck.fat's output.
const fsckOutputMax = 16 << 10

// runStatus runs cmd to its end and returns its wait status; PID 1 runs
// it through its reaper.
type runStatus func(cmd *exec.Cmd) (syscall.WaitStatus, error)

// repairFAT runs fsck.fat -a on dev (a device or an image file). It
// returns what fsck.fat says when it repaired something, "" when the
// filesystem was clean, and an error when fsck.fat could not repair it.
func repairFAT(run runStatus, dev string) (string, error) {
	cmd := exec.Command(fsckFat, "-a", "-w", dev)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin", "LC_ALL=C"}
	var out bytes.Buffer
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = w, w
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&out, io.LimitReader(r, fsckOutputMax))
		io.Copy(io.Discard, r)
		r.Close()
	}()
	ws, err := run(cmd)
	w.Close()
	<-done
	if err != nil {
		return "", fmt.Errorf("fsck.fat %s: %w", dev, err)
	}
	said := strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "\n", "; ")), " ")
	// Exit status 1 is both "repaired" and "could not even check" (a boot
	// sector it does not understand): only a finished check ends with
	// its summary line, "DEV: N files, USED/TOTAL clusters".
	checked := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(dev) + `: \d+ files, \d+/\d+ clusters$`).Match(out.Bytes())
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return "", nil
	case ws.Exited() && ws.ExitStatus() == 1 && checked:
		return said, nil
	case ws.Exited():
		return "", fmt.Errorf("fsck.fat %s: exit status %d: %s", dev, ws.ExitStatus(), said)
	}
	return "", fmt.Errorf("fsck.fat %s: %v: %s", dev, ws, said)
}

// removeSalvaged removes the FSCKnnnn.REC files fsck.fat left in the root
// folder of the FAT mounted at dir, and says which.
func removeSalvaged(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		n := strings.ToUpper(e.Name())
		if !e.Type().IsRegular() || !strings.HasPrefix(n, "FSCK") || !strings.HasSuffix(n, ".REC") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// runReaped runs cmd through PID 1's reaper.
func (h *host) runReaped(cmd *exec.Cmd) (syscall.WaitStatus, error) {
	ch, err := h.reaper.Start(cmd)
	if err != nil {
		return 0, err
	}
	return <-ch, nil
}

// repairEFI repairs the EFI partition dev before it is mounted read-write,
// unless it is mounted already (hostctl install reads its kit from it):
// fsck.fat must not change a mounted filesystem. What fails is logged,
// and the mount goes on (a write that then fails says why).
func (h *host) repairEFI(dev string) {
	if in, err := devMounted("/proc/self/mountinfo", dev); err != nil || in != "" {
		h.logf("boot chain: %s: no fsck.fat, as it is mounted on %s (%v)", dev, in, err)
		return
	}
	said, err := repairFAT(h.runReaped, dev)
	switch {
	case err != nil:
		h.logf("boot chain: %v", err)
	case said != "":
		h.logf("boot chain: %s: fsck.fat repaired what a cut-short write left: %.600s", dev, said)
	}
}

// devMounted says where the block device dev is mounted, from mountinfo
// (its third field is the mounted device's major:minor); "" when nowhere.
func devMounted(mountinfo, dev string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return "", err
	}
	want := fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[2] == want {
			return mounts.Unescape(f[4]), nil
		}
	}
	return "", nil
}
