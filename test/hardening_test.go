//go:build qemu

package test

import (
	"strings"
)

// checkHardening: lockdown is in integrity mode, the hardening sysctls hold,
// a signed module loads and the same module without its signature is
// refused.
func (m *machine) checkHardening() {
	// securityfs is not mounted in the console's /sys: mount it there.
	if out := m.sh("grep -q ' /sys/kernel/security ' /proc/mounts || mount -t securityfs securityfs /sys/kernel/security; cat /sys/kernel/security/lockdown"); !strings.Contains(out, "[integrity]") {
		m.t.Errorf("lockdown = %q, want [integrity]", out)
	}
	for key, want := range map[string]string{
		"kernel/kexec_load_disabled": "1",
		"kernel/io_uring_disabled":   "2",
		"dev/tty/legacy_tiocsti":     "0",
		"kernel/dmesg_restrict":      "1",
		"kernel/kptr_restrict":       "2",
	} {
		if got := strings.TrimSpace(m.sh("cat /proc/sys/" + key)); got != want {
			m.t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// A module that nothing on this machine loads (no USB disk), and that
	// needs no other.
	const mod = "kernel/drivers/usb/storage/usb-storage.ko"
	path := "/usr/lib/modules/$(uname -r)/" + mod
	if out, code := m.shCode("grep -q '^usb_storage ' /proc/modules"); code == 0 {
		m.t.Fatalf("usb_storage is loaded before the test: %s", out)
	}
	// Strip the signature: the file ends with the signature, a 12-byte
	// struct module_signature whose last 4 bytes are its length (big
	// endian), and the 28-byte marker.
	strip := `f=` + path + `; sz=$(stat -c %s $f); ` +
		`tail -c 28 $f | grep -q 'Module signature appended' || { echo not signed; exit 3; }; ` +
		`n=$(tail -c 32 $f | head -c 4 | od -An -tu1 | awk '{print $1*16777216+$2*65536+$3*256+$4}'); ` +
		`head -c $((sz-40-n)) $f > /tmp/unsigned.ko`
	if out, code := m.shCode(strip); code != 0 {
		m.t.Fatalf("%s: exit %d: %s", strip, code, out)
	}
	out, code := m.shCode("insmod /tmp/unsigned.ko 2>&1")
	if code == 0 {
		m.t.Errorf("an unsigned module loaded: %s", out)
	} else if !strings.Contains(out, "Key was rejected") {
		m.t.Errorf("insmod of an unsigned module: %q, want EKEYREJECTED", out)
	}
	if out := m.sh("dmesg | grep -c 'Loading of unsigned module is rejected' || true"); strings.TrimSpace(out) == "0" {
		m.t.Error("the kernel did not log the unsigned module's refusal")
	}
	if out, code := m.shCode("insmod " + path + " 2>&1 && grep -c '^usb_storage ' /proc/modules"); code != 0 {
		m.t.Errorf("the signed module did not load: exit %d: %s", code, out)
	}
}
