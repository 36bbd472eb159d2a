package qemu

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	work := t.TempDir()
	c := Config{
		Memory: 256, CPUs: 2, Net: true, HostFwd: []string{"tcp:127.0.0.1:2222-:22"},
		Disks: []Disk{
			{Path: "/a.qcow2", Format: "qcow2"},
			{Path: "/b.iso", If: "cdrom", ReadOnly: true},
			{Path: "/c.img", If: "usb", Snapshot: true},
			{Path: "/d.img", If: "usb"},
		},
		FwCfg:    map[string]string{"opt/z": "last", "opt/a": "first"},
		QMP:      "/run/q.sock",
		Incoming: "/tmp/it's.state",
	}
	args, err := c.Args(work)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	// The TCG model: AMD's vendor (qemu64: no Meltdown page table
	// isolation), RDRAND, SSE4.2 and CLMUL, and no AVX.
	for _, f := range []string{"qemu64,", "+rdrand", "+sse4.2", "+pclmulqdq"} {
		if !strings.Contains(TCGCPU, f) {
			t.Errorf("TCGCPU %q lacks %q", TCGCPU, f)
		}
	}
	if !strings.Contains(TCGCPU, ",-svm,") {
		t.Errorf("TCGCPU %q offers SVM: the guest's KVM sets itself up at every boot", TCGCPU)
	}
	if strings.Contains(TCGCPU, "avx") || strings.HasPrefix(TCGCPU, "max") {
		t.Errorf("TCGCPU %q has AVX, which TCG emulates in helper calls", TCGCPU)
	}
	for _, want := range []string{
		"-m 256 -smp 2 -cpu " + TCGCPU,
		"-M q35,accel=tcg",
		"-drive if=none,id=disk0,format=qcow2,file=/a.qcow2 -device virtio-blk-pci,drive=disk0,bootindex=1",
		"-drive if=none,id=disk1,format=raw,file=/b.iso,readonly=on -device ide-cd,drive=disk1,bootindex=2",
		"file=/c.img,snapshot=on",
		"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=net0,romfile=",
		"-incoming exec:cat '/tmp/it'\\''s.state'",
		"-qmp unix:/run/q.sock,server=on,wait=off",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	// One xHCI controller for both USB disks.
	if n := strings.Count(got, "qemu-xhci"); n != 1 {
		t.Errorf("%d xHCI controllers, want 1:\n%s", n, got)
	}
	if strings.Contains(got, "accel=kvm") || strings.Contains(got, "pflash") {
		t.Errorf("KVM or firmware flash not asked for:\n%s", got)
	}
	// fw_cfg entries in name order, each from a file with its contents.
	a, z := strings.Index(got, "name=opt/a,file="), strings.Index(got, "name=opt/z,file=")
	if a < 0 || z < 0 || a > z {
		t.Fatalf("fw_cfg entries missing or out of order:\n%s", got)
	}
	b, err := os.ReadFile(filepath.Join(work, "fwcfg0"))
	if err != nil || string(b) != "first" {
		t.Errorf("fwcfg0 = %q, %v; want the contents of opt/a", b, err)
	}
}

// A network boot keeps the NIC's iPXE ROM, boots it first, and has QEMU's
// DHCP and TFTP offer the boot file.
func TestArgsNetBoot(t *testing.T) {
	args, err := Config{Net: true, NetBoot: true, TFTP: "/srv/tftp", BootFile: "boot.ipxe"}.Args(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	if want := "-netdev user,id=net0,tftp=/srv/tftp,bootfile=boot.ipxe -device virtio-net-pci,netdev=net0,bootindex=0"; !strings.Contains(got, want) {
		t.Errorf("args lack %q:\n%s", want, got)
	}
	if strings.Contains(got, "romfile=") {
		t.Errorf("a network boot needs the NIC's option ROM:\n%s", got)
	}
}

// Each platform's controller holds its own disk, which boots by index.
func TestArgsPlatformControllers(t *testing.T) {
	c := Config{Net: true, NIC: "vmxnet3", Disks: []Disk{
		{Path: "/a.vmdk", Format: "vmdk", If: "pvscsi"},
		{Path: "/b.vdi", Format: "vdi", If: "ahci"},
		{Path: "/c.vhd", Format: "vpc", If: "nvme"},
		{Path: "/d.raw", If: "lsisas"},
		{Path: "/e.raw", If: "virtio-scsi"},
	}}
	args, err := c.Args(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{
		"-drive if=none,id=disk0,format=vmdk,file=/a.vmdk -device pvscsi,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=disk0,bootindex=1",
		"-device ahci,id=ahci1 -device ide-hd,bus=ahci1.0,drive=disk1,bootindex=2",
		"-device nvme,serial=berth2,drive=disk2,bootindex=3",
		"-device mptsas1068,id=scsi3 -device scsi-hd,bus=scsi3.0,drive=disk3,bootindex=4",
		"-device virtio-scsi-pci,id=scsi4 -device scsi-hd,bus=scsi4.0,drive=disk4,bootindex=5",
		"-device vmxnet3,netdev=net0,romfile=",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
}

func TestArgsMicrovmUEFI(t *testing.T) {
	work := t.TempDir()
	args, err := Config{Machine: "microvm", Net: true, KVM: true, Disks: []Disk{{Path: "/r", If: "virtio-mmio"}}}.Args(work)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{"-cpu host", "-M microvm,acpi=on,pit=off,pic=off,rtc=on,accel=kvm", "-device virtio-blk-device,drive=disk0", "-device virtio-net-device,netdev=net0"} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "romfile") || strings.Contains(got, "bootindex") {
		t.Errorf("a microvm has no option ROMs or boot order:\n%s", got)
	}
	if _, err := os.Stat(OVMFVars); err == nil {
		args, err := Config{UEFI: true}.Args(work)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(args, " "); !strings.Contains(got, "if=pflash,format=raw,unit=1,file="+filepath.Join(work, "OVMF_VARS.fd")) {
			t.Errorf("UEFI without a vars file gets a writable copy in the work folder:\n%s", got)
		}
	}
}

func TestArgsUnknownInterface(t *testing.T) {
	_, err := Config{Disks: []Disk{{Path: "/x", If: "scsi"}}}.Args(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `disk /x: unknown interface "scsi"`) {
		t.Fatalf("err = %v, want the disk and its interface named", err)
	}
}

// fakeQMP answers like QEMU's monitor: a greeting, events between
// replies, and an error for unknown commands.
func fakeQMP(t *testing.T, seen chan<- map[string]any) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
				r := bufio.NewScanner(c)
				for r.Scan() {
					var req map[string]any
					json.Unmarshal(r.Bytes(), &req)
					seen <- req
					c.Write([]byte(`{"event": "RESUME", "timestamp": {}}` + "\n"))
					switch req["execute"] {
					case "qmp_capabilities", "stop", "migrate":
						c.Write([]byte(`{"return": {}}` + "\n"))
					case "query-migrate":
						c.Write([]byte(`{"return": {"status": "failed", "error-desc": "disk full"}}` + "\n"))
					default:
						c.Write([]byte(`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}` + "\n"))
					}
				}
			}()
		}
	}()
	return sock
}

func TestQMP(t *testing.T) {
	seen := make(chan map[string]any, 16)
	vm := &VM{qmp: fakeQMP(t, seen)}
	line, err := vm.QMPArgs("stop", map[string]int{"x": 1})
	if err != nil || !strings.Contains(line, `"return"`) {
		t.Fatalf("stop: %q, %v", line, err)
	}
	if caps, req := <-seen, <-seen; caps["execute"] != "qmp_capabilities" || req["execute"] != "stop" || req["arguments"].(map[string]any)["x"] != 1.0 {
		t.Errorf("requests %v, %v", caps, req)
	}
	if _, err := vm.QMP("nope"); err == nil || !strings.Contains(err.Error(), "qmp nope: The command nope has not been found") {
		t.Errorf("unknown command: %v", err)
	}
	// A failed migration is reported with QEMU's reason.
	if err := vm.Save("/tmp/x", 0); err == nil || !strings.Contains(err.Error(), "migration failed: disk full") {
		t.Errorf("Save: %v, want the migration's failure", err)
	}
	if _, err := (&VM{}).QMP("stop"); err == nil || !strings.Contains(err.Error(), "no QMP socket") {
		t.Errorf("no socket: %v", err)
	}
}

// info usernet as QEMU 7.2 prints it, with a forward that asked for port 0.
func TestForwardedPort(t *testing.T) {
	const out = "Hub -1 (n0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n" +
		"  TCP[HOST_FORWARD]   8       127.0.0.1 41785       10.0.2.15    22     0     0\r\n" +
		"  TCP[HOST_FORWARD]   9       127.0.0.1 41786       10.0.2.15  8080     0     0\r\n"
	for guest, want := range map[int]int{22: 41785, 8080: 41786} {
		if got, ok := forwardedPort(out, guest); !ok || got != want {
			t.Errorf("guest port %d: got %d, %v; want %d", guest, got, ok, want)
		}
	}
	if got, ok := forwardedPort(out, 2222); ok {
		t.Errorf("guest port 2222: got %d, want no forward", got)
	}
}

// A process started by spawn with a parent-death signal outlives the end
// of any goroutine's thread; one started from a locked thread that ends
// does not (what spawn is for).
//
// The Go runtime wedges the main thread instead of ending it when a locked
// goroutine exits there, so the processes are started from goroutines on
// other threads: one that finds itself on the main thread (its thread ID is
// the process ID) starts nothing and ends, which wedges the main thread for
// good, and the next goroutine runs elsewhere.
func TestSpawnOutlivesLockedThreads(t *testing.T) {
	errMainThread := errors.New("on the main thread")
	start := func(viaSpawn bool) *exec.Cmd {
		for {
			cmd := exec.Command("sleep", "60")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			errc := make(chan error)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
				switch {
				case syscall.Gettid() == os.Getpid():
					errc <- errMainThread
				case viaSpawn:
					errc <- spawn(cmd)
				default:
					errc <- cmd.Start()
				}
			}()
			err := <-errc
			if err == errMainThread {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			return cmd
		}
	}
	exited := func(cmd *exec.Cmd, within time.Duration) bool {
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(within):
			return false
		}
	}
	if !exited(start(false), 10*time.Second) {
		t.Fatal("a process started from a locked thread that ended is still running after 10 s: the test can't tell")
	}
	spawned := start(true)
	for i := 0; i < 10; i++ { // other locked goroutines end, and their threads
		done := make(chan struct{})
		go func() { runtime.LockOSThread(); close(done) }()
		<-done
	}
	if exited(spawned, time.Second) {
		t.Error("a process started by spawn died when a goroutine's thread ended")
	}
}
