package installer

// Installing onto a host's disk: what `hostctl install` asks PID 1 to do.
// The partition table, the BIOS boot code and slot A are written by the
// same code as the build's berth.raw; the EFI and state filesystems are
// made with the host's mkfs.fat and mke2fs and filled through the kernel.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/blockdev"
	"github.com/berth-os/berth/internal/grubenv"
	"github.com/berth-os/berth/internal/layout"
)

// KitDir is the folder of a boot medium (the ISO) holding what an install
// needs besides the kernel, initrd and root the medium boots: KitManifest,
// GRUB's images for a disk, and the disk's grub.cfg.
const (
	KitDir      = "berth/disk"
	KitManifest = KitDir + "/disk.json"
)

// Kit is what an install writes: the files of the EFI partition, GRUB's
// BIOS boot code and the root, with paths relative to the medium that
// holds them (Manifest) or absolute (once Resolved).
type Kit struct {
	EFISize  int64  `json:"efi_size"`
	SlotSize int64  `json:"slot_size"`
	BootImg  string `json:"boot_img"` // GRUB's MBR code
	CoreImg  string `json:"core_img"` // GRUB's core image for BIOS
	Root     string `json:"root"`     // the root squashfs with its verity tree
	// RootSize is how much of Root is the root; 0 for all of it (a file).
	RootSize int64  `json:"-"`
	EFI      []File `json:"efi"` // in the order they are written
}

// File is one file of the EFI partition: Src on the medium, Dst in the
// partition (absolute, slash-separated).
type File struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// BootFiles are the files that make a disk boot, besides its root.
type BootFiles struct {
	Shim           string // shim, which the firmware starts (EFIShim)
	GrubEFI        string // GRUB for UEFI, with the disk's prefix, which shim starts (EFIGrub)
	UKI            string // the slot's unified kernel image (layout.SlotUKI)
	Kernel, Initrd string
	// BootCfg is the slot's boot.cfg (SlotBootCfg): its root's kernel
	// arguments.
	BootCfg string
	// Version is the slot's version file (layout.SlotVersion).
	Version string
	GrubCfg string
	// BootImg and CoreImg are GRUB's BIOS boot code: the EFI partition
	// keeps a copy, so that an installed host can install again.
	BootImg, CoreImg string
	Marker           string // the build's marker file, at MarkerDst
	MarkerDst        string
}

// Where a disk's EFI partition keeps the boot loader for UEFI: shim, at
// the path firmware boots from a disk, and GRUB beside it, where shim
// looks for it.
const (
	EFIShim = "/EFI/BOOT/BOOTX64.EFI"
	EFIGrub = "/EFI/BOOT/grubx64.efi"
)

// Where a disk's EFI partition keeps GRUB's BIOS boot code.
const (
	EFIBootImg = "/berth/disk/boot.img"
	EFICoreImg = "/berth/disk/core.img"
)

// EFIFiles are the files of a disk's EFI partition, in the order they are
// written: shim and GRUB for UEFI, slot A's kernel, initrd, unified kernel image, boot.cfg and version, grub.cfg,
// GRUB's BIOS boot code and the build's marker. The environment block
// (InitialGrubEnv) comes after them. The build's raw disk and an install
// both take them from here.
func EFIFiles(b BootFiles) []File {
	return []File{
		{b.Shim, EFIShim},
		{b.GrubEFI, EFIGrub},
		{b.Kernel, layout.SlotKernel("a")},
		{b.Initrd, layout.SlotInitrd("a")},
		{b.UKI, layout.SlotUKI("a")},
		{b.BootCfg, layout.SlotBootCfg("a")},
		{b.Version, layout.SlotVersion("a")},
		{b.GrubCfg, "/boot/grub/grub.cfg"},
		{b.BootImg, EFIBootImg},
		{b.CoreImg, EFICoreImg},
		{b.Marker, b.MarkerDst},
	}
}

// DiskKit is the kit of a host booted from a Berth disk: its EFI partition
// (mounted at efiDir) gives the boot files of slot (the running one), and
// root (its partition, opened through dm-verity) the first rootSize bytes.
// The sizes are the boot disk's partitions'.
func DiskKit(efiDir, slot, root string, rootSize, efiSize, slotSize int64) (Kit, error) {
	markers, _ := filepath.Glob(filepath.Join(efiDir, "berth", "*.id"))
	if len(markers) != 1 {
		return Kit{}, fmt.Errorf("install kit: %d build markers (berth/*.id) in the EFI partition, want 1", len(markers))
	}
	at := func(p string) string { return filepath.Join(efiDir, filepath.FromSlash(p)) }
	k := Kit{
		EFISize: efiSize, SlotSize: slotSize,
		BootImg: at(EFIBootImg), CoreImg: at(EFICoreImg),
		Root: root, RootSize: rootSize,
		EFI: EFIFiles(BootFiles{
			Shim: at(EFIShim), GrubEFI: at(EFIGrub),
			Kernel: at(layout.SlotKernel(slot)), Initrd: at(layout.SlotInitrd(slot)), UKI: at(layout.SlotUKI(slot)),
			BootCfg: at(layout.SlotBootCfg(slot)),
			Version: at(layout.SlotVersion(slot)),
			GrubCfg: at("/boot/grub/grub.cfg"),
			BootImg: at(EFIBootImg), CoreImg: at(EFICoreImg),
			Marker: markers[0], MarkerDst: "/berth/" + filepath.Base(markers[0]),
		}),
	}
	return k, nil
}

// SlotBootCfg is a slot's boot.cfg: the kernel arguments of its root,
// which the disk's grub.cfg reads as berth_args.
func SlotBootCfg(args string) ([]byte, error) {
	if err := layout.CheckKernelArgs(args); err != nil {
		return nil, fmt.Errorf("boot.cfg: %w", err)
	}
	return []byte("set berth_args=\"" + args + "\"\n"), nil
}

// InitialGrubEnv is a new disk's GRUB environment block: slot A is good,
// nothing is being tried.
func InitialGrubEnv() []byte {
	b, err := grubenv.Env{layout.EnvGood: "a"}.Encode()
	if err != nil {
		panic(err) // a constant block
	}
	return b
}

// AppendPath is the file of the EFI partition that gives the kernel command
// line of every entry of the disk's menu more arguments (`hostctl install
// --append`): GRUB sources it when it is there.
const AppendPath = "/berth/append.cfg"

// maxManifest caps the manifest read from a medium.
const maxManifest = 64 << 10

// ReadKit reads a medium's manifest (mounted at dir) and makes its paths
// absolute. A path that leaves the medium is refused.
func ReadKit(dir string) (Kit, error) {
	f, err := os.Open(filepath.Join(dir, KitManifest))
	if err != nil {
		return Kit{}, fmt.Errorf("install kit: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return Kit{}, fmt.Errorf("install kit: %w", err)
	}
	if len(b) > maxManifest {
		return Kit{}, fmt.Errorf("install kit: %s is over %d KiB", KitManifest, maxManifest>>10)
	}
	var k Kit
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return Kit{}, fmt.Errorf("install kit: %s: %w", KitManifest, err)
	}
	abs := func(field, p string) (string, error) {
		c := path.Clean("/" + p)
		if p == "" || c != "/"+strings.TrimPrefix(p, "/") {
			return "", fmt.Errorf("install kit: %s: %s %q is not a clean path on the medium", KitManifest, field, p)
		}
		return filepath.Join(dir, c), nil
	}
	for _, p := range []*string{&k.BootImg, &k.CoreImg, &k.Root} {
		if *p, err = abs("a file", *p); err != nil {
			return Kit{}, err
		}
	}
	for i := range k.EFI {
		if k.EFI[i].Src, err = abs("efi["+fmt.Sprint(i)+"].src", k.EFI[i].Src); err != nil {
			return Kit{}, err
		}
		if c := path.Clean(k.EFI[i].Dst); c != k.EFI[i].Dst || !path.IsAbs(c) || c == "/" {
			return Kit{}, fmt.Errorf("install kit: %s: efi[%d].dst %q is not a clean absolute path", KitManifest, i, k.EFI[i].Dst)
		}
	}
	if k.EFISize <= 0 || k.SlotSize <= 0 || len(k.EFI) == 0 {
		return Kit{}, fmt.Errorf("install kit: %s: efi_size, slot_size and efi are required", KitManifest)
	}
	return k, nil
}

// Options is one install.
type Options struct {
	Device string // the whole disk, e.g. /dev/vdb
	Sysfs  string // /sys on a host
	// UserData is cloud-config for the state partition's user-data file
	// (the "state" datasource), at UserDataPath (a host path under /var,
	// where the state partition is mounted); nil writes none.
	UserData     []byte
	UserDataPath string
	// Append is added to the kernel command line of the disk's entries.
	Append string
	Wipe   bool // write over a disk that holds a partition table or filesystem
	DryRun bool // plan, write nothing
	// Run runs mkfs.fat and mke2fs (PID 1 runs them through its reaper).
	Run func(*exec.Cmd) error
	// Mkfs names the host's mkfs.fat and mke2fs; MkfsEnv is their
	// environment.
	MkfsFat, Mke2fs string
	MkfsEnv         []string
	// MountDir is an empty folder to mount the new filesystems on.
	MountDir string
	Progress io.Writer
}

// Plan is what an install writes, or would write.
type Plan struct {
	Device string
	Size   int64
	// Holds is what the disk held ("" for nothing Berth recognised).
	Holds string
	Parts []Part
	// Root is the size of what slot A receives.
	Root int64
}

// String is the plan as hostctl shows it.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d MiB", p.Device, p.Size>>20)
	if p.Holds != "" {
		fmt.Fprintf(&b, ", holding %s (wiped)", p.Holds)
	}
	b.WriteString("\n")
	for _, n := range []string{layout.PartBIOS, layout.PartEFI, layout.PartA, layout.PartB, layout.PartState} {
		part, ok := ByName(p.Parts, n)
		if !ok {
			continue
		}
		what := map[string]string{
			layout.PartBIOS:  "GRUB for BIOS",
			layout.PartEFI:   "FAT: GRUB for UEFI, slot A's kernel and initrd",
			layout.PartA:     fmt.Sprintf("the running root (%d MiB, verified)", (p.Root+1<<20-1)>>20),
			layout.PartB:     "empty (for upgrades)",
			layout.PartState: "ext4: state, and the cloud-config given",
		}[n]
		fmt.Fprintf(&b, "  %d %-12s %6d MiB  at %5d MiB  %s\n", part.Number, part.Name, part.Size>>20, part.Start>>20, what)
	}
	return b.String()
}

// ErrNotBlank is an install onto a disk that holds something, without Wipe.
var ErrNotBlank = errors.New("the disk is not blank")

// Install writes a Berth disk from kit onto o.Device: the GPT (with GUIDs
// of its own), GRUB for BIOS and UEFI, the root into slot A, an empty slot
// B and a formatted state partition holding o.UserData. A disk holding a
// partition table or a filesystem is refused unless o.Wipe. With o.DryRun
// the plan is returned and nothing written.
func Install(ctx context.Context, kit Kit, o Options) (Plan, error) {
	plan, err := install(ctx, kit, o)
	if err != nil {
		return plan, fmt.Errorf("install onto %s: %w", o.Device, err)
	}
	return plan, nil
}

func install(ctx context.Context, kit Kit, o Options) (Plan, error) {
	plan := Plan{Device: o.Device}
	if err := CheckAppend(o.Append); err != nil {
		return plan, err
	}
	// Every file of the kit is there before anything is written.
	for _, p := range append([]string{kit.BootImg, kit.CoreImg}, kitSources(kit)...) {
		if _, err := os.Stat(p); err != nil {
			return plan, fmt.Errorf("install kit: %w", err)
		}
	}
	root, err := os.Stat(kit.Root)
	if err != nil {
		return plan, fmt.Errorf("install kit: %w", err)
	}
	plan.Root = kit.RootSize
	if plan.Root == 0 {
		plan.Root = root.Size()
	}
	if plan.Root > kit.SlotSize {
		return plan, fmt.Errorf("the root is %d MiB; a slot holds %d MiB", plan.Root>>20, kit.SlotSize>>20)
	}
	flags := os.O_RDONLY
	if !o.DryRun {
		// O_EXCL: a disk with a mounted partition (the running system's
		// own, for one) is busy.
		flags = os.O_RDWR | unix.O_EXCL
	}
	f, err := os.OpenFile(o.Device, flags|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return plan, fmt.Errorf("%s is in use (a partition of it is mounted, or it holds the running system)", o.Device)
	}
	if err != nil {
		return plan, err
	}
	defer f.Close()
	if !o.DryRun {
		// A lock on the whole disk for the whole install: udev re-reads the
		// partition table of a disk when a writer closes it (removing and
		// adding the partitions' nodes) unless someone holds this lock,
		// as systemd's "Locking Block Device Access" documents and parted
		// and sfdisk do.
		lk, err := os.Open(o.Device)
		if err != nil {
			return plan, err
		}
		defer lk.Close()
		if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
			return plan, fmt.Errorf("lock %s: %w", o.Device, err)
		}
	}
	st, err := f.Stat()
	if err != nil {
		return plan, err
	}
	if st.Mode()&os.ModeDevice != 0 {
		if ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && ss != sector {
			return plan, fmt.Errorf("%s has %d-byte sectors; Berth's layout needs 512", o.Device, ss)
		}
		if n, err := os.ReadFile(filepath.Join(o.Sysfs, "class/block", filepath.Base(o.Device), "partition")); err == nil && len(n) > 0 {
			return plan, fmt.Errorf("%s is a partition; name the whole disk", o.Device)
		}
	}
	if plan.Size, err = f.Seek(0, io.SeekEnd); err != nil {
		return plan, err
	}
	if plan.Holds, err = holds(f); err != nil {
		return plan, err
	}
	if plan.Holds != "" && !o.Wipe {
		return plan, fmt.Errorf("%w: %s holds %s; --wipe erases it", ErrNotBlank, o.Device, plan.Holds)
	}
	seed := make([]byte, 16)
	if _, err := rand.Read(seed); err != nil {
		return plan, err
	}
	l := Layout{Size: plan.Size, EFISize: kit.EFISize, SlotSize: kit.SlotSize, Seed: hex.EncodeToString(seed)}
	if plan.Parts, err = l.Plan(); err != nil {
		return plan, err
	}
	if o.DryRun {
		return plan, nil
	}
	if err := writeDisk(ctx, f, kit, plan, o); err != nil {
		return plan, err
	}
	// mkfs opens the partitions exclusively, which it can't while the
	// whole disk is held so.
	if err := f.Close(); err != nil {
		return plan, err
	}
	return plan, makeFilesystems(ctx, kit, plan, o)
}

func kitSources(kit Kit) []string {
	var out []string
	for _, f := range kit.EFI {
		out = append(out, f.Src)
	}
	return out
}

// CheckAppend refuses kernel arguments GRUB's quoting can't hold.
func CheckAppend(s string) error {
	if err := layout.CheckKernelArgs(s); err != nil {
		return fmt.Errorf("--append: %w", err)
	}
	return nil
}

// holds says what a disk holds that an install would destroy: a partition
// table or a filesystem; "" for none.
func holds(f *os.File) (string, error) {
	head := make([]byte, 2*sector)
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read: %w", err)
	}
	if string(head[sector:sector+8]) == "EFI PART" {
		return "a GPT partition table", nil
	}
	fstype, err := blockdev.Probe(f)
	switch {
	case errors.Is(err, blockdev.ErrNoFilesystem):
		return "", nil
	case err != nil:
		return "", err
	case fstype == "unknown" && head[510] == 0x55 && head[511] == 0xaa && !isZero(head[446:510]):
		return "an MBR partition table", nil
	case fstype == "unknown":
		return "data (no filesystem Berth knows)", nil
	case strings.ContainsRune("aeiou", rune(fstype[0])):
		return "an " + fstype + " filesystem", nil
	}
	return "a " + fstype + " filesystem", nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writeDisk writes the raw parts of the disk: the partition table, GRUB's
// BIOS boot code and slot A, and has the kernel read the new table.
func writeDisk(ctx context.Context, f *os.File, kit Kit, plan Plan, o Options) error {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	// Old signatures go first: the disk's head and tail (an old GPT and
	// its backup) and the head of every new partition.
	zero := make([]byte, align)
	for _, off := range []int64{0, plan.Size - align} {
		if _, err := f.WriteAt(zero, max(off, 0)); err != nil {
			return fmt.Errorf("wipe: %w", err)
		}
	}
	for _, p := range plan.Parts {
		if _, err := f.WriteAt(zero[:min(p.Size, align)], p.Start); err != nil {
			return fmt.Errorf("wipe %s: %w", p.Name, err)
		}
	}
	diskGUID, err := randomGUID()
	if err != nil {
		return err
	}
	if err := writeTable(f, plan.Size, plan.Parts, diskGUID); err != nil {
		return err
	}
	bios, _ := ByName(plan.Parts, layout.PartBIOS)
	if err := installBIOSBoot(f, kit.BootImg, kit.CoreImg, bios); err != nil {
		return err
	}
	a, _ := ByName(plan.Parts, layout.PartA)
	fmt.Fprintf(progress, "writing the root into %s (%d MiB)\n", layout.PartA, plan.Root>>20)
	if err := copyInto(f, kit.Root, plan.Root, a); err != nil {
		return fmt.Errorf("partition %s: %w", a.Name, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The kernel learns the new partitions; the install holds the disk
	// exclusively, so nothing else has it open.
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("re-read the partition table: %w", err)
	}
	return nil
}

// makeFilesystems formats the EFI partition and fills it, and formats the
// state partition with the user-data in it.
func makeFilesystems(ctx context.Context, kit Kit, plan Plan, o Options) error {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	disk := filepath.Base(o.Device)
	efi, _ := ByName(plan.Parts, layout.PartEFI)
	efiDev, err := waitPart(ctx, o.Sysfs, filepath.Dir(o.Device), disk, efi.Number)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "making the EFI partition (%s)\n", efiDev)
	if err := o.run(exec.Command(o.MkfsFat, "-F", "32", "-n", "EFI", efiDev)); err != nil {
		return fmt.Errorf("format %s: %w", efiDev, err)
	}
	err = o.mounted(efiDev, "vfat", func(dir string) error {
		for _, file := range kit.EFI {
			if err := copyFile(file.Src, filepath.Join(dir, filepath.FromSlash(file.Dst))); err != nil {
				return err
			}
		}
		if err := writeNew(filepath.Join(dir, layout.GrubEnvPath), bytes.NewReader(InitialGrubEnv())); err != nil {
			return err
		}
		if o.Append == "" {
			return nil
		}
		return writeNew(filepath.Join(dir, AppendPath), strings.NewReader(fmt.Sprintf("set berth_append=\"%s\"\n", o.Append)))
	})
	if err != nil {
		return fmt.Errorf("EFI partition: %w", err)
	}
	st, _ := ByName(plan.Parts, layout.PartState)
	stDev, err := waitPart(ctx, o.Sysfs, filepath.Dir(o.Device), disk, st.Number)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "making the state partition (%s)\n", stDev)
	if err := o.run(StateMkfs(o.Mke2fs, o.MkfsEnv, stDev)); err != nil {
		return fmt.Errorf("format %s: %w", stDev, err)
	}
	if o.UserData == nil {
		return nil
	}
	return o.mounted(stDev, "ext4", func(dir string) error {
		// The state partition is /var: user-data goes where the "state"
		// datasource reads it.
		rel, ok := strings.CutPrefix(path.Clean(o.UserDataPath), "/var/")
		if !ok {
			return fmt.Errorf("user-data path %s is not under /var", o.UserDataPath)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(dir, rel), o.UserData, 0o600)
	})
}

// writeTable writes a GPT of parts with the disk GUID diskGUID.
func writeTable(f *os.File, size int64, parts []Part, diskGUID string) error {
	t := newTable(parts, diskGUID)
	if err := t.Write(f, size); err != nil {
		return fmt.Errorf("write GPT: %w", err)
	}
	return nil
}

// StateMkfs is the mke2fs that formats a state partition, for PID 1 at a
// first boot and for an install alike.
func StateMkfs(mke2fs string, env []string, dev string) *exec.Cmd {
	cmd := exec.Command(mke2fs, "-q", "-F", "-t", "ext4", "-L", layout.PartState,
		"-E", "lazy_itable_init=1,lazy_journal_init=1", dev)
	cmd.Env = env
	return cmd
}

// run runs cmd with o.Run, its output (through a pipe: PID 1's reaper
// takes files only) kept for the error.
func (o Options) run(cmd *exec.Cmd) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&out, io.LimitReader(r, 64<<10))
		io.Copy(io.Discard, r)
		close(done)
	}()
	cmd.Stdout, cmd.Stderr = w, w
	if cmd.Env == nil {
		cmd.Env = o.MkfsEnv
	}
	err = o.Run(cmd)
	w.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// mounted mounts dev on o.MountDir for fill, then unmounts it.
func (o Options) mounted(dev, fstype string, fill func(dir string) error) (err error) {
	if err := os.MkdirAll(o.MountDir, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(dev, o.MountDir, fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s: %w", dev, err)
	}
	defer func() {
		if uerr := unix.Unmount(o.MountDir, 0); uerr != nil && err == nil {
			err = fmt.Errorf("unmount %s: %w", dev, uerr)
		}
	}()
	if err := fill(o.MountDir); err != nil {
		return err
	}
	unix.Sync()
	return nil
}

// copyFile copies src to dst on a new filesystem (FAT has no modes to
// set), making dst's folders, and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeNew(dst, in)
}

func writeNew(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return out.Close()
}

// waitPart waits for partition n of disk to show in sysfs and its node in
// devDir, after the table was re-read.
func waitPart(ctx context.Context, sysfs, devDir, disk string, n int) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(sysfs, "block", disk))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(sysfs, "block", disk, e.Name(), "partition"))
			if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(n) {
				continue
			}
			dev := filepath.Join(devDir, e.Name())
			if _, err := os.Stat(dev); err == nil {
				return dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("partition %d of %s did not appear", n, disk)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
