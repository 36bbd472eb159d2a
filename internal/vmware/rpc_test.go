package vmware

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// vmx is a hypervisor's side of the backdoor, as open-vm-tools'
// lib/message expects it: RPCI channels with cookies, sizes, then four
// bytes of payload a call, and the reply to "info-get guestinfo.KEY".
type vmx struct {
	info     map[string]string
	channels map[uint32]*vmxChannel
	next     uint32
	calls    int
}

type vmxChannel struct {
	cookie   [2]uint32
	in       []byte
	want     int
	reply    []byte
	replyPos int
}

func (v *vmx) Call(r *Regs) {
	v.calls++
	if r.AX != magic || r.DX&0xFFFF != ioPort {
		*r = Regs{AX: 0xFFFFFFFF, BX: r.BX}
		return
	}
	switch r.CX & 0xFFFF {
	case cmdVersion:
		r.AX, r.BX = 6, magic
		return
	case cmdMessage:
	default:
		r.CX = 0
		return
	}
	typ, id := r.CX>>16, r.DX>>16
	fail := func() { r.CX = 0 }
	if typ == msgOpen {
		if r.BX != rpciProto|flagCookie {
			fail()
			return
		}
		if v.channels == nil {
			v.channels = map[uint32]*vmxChannel{}
		}
		v.next++
		c := &vmxChannel{cookie: [2]uint32{0xC0FFEE00 + v.next, 0xBEEF0000 + v.next}}
		v.channels[v.next] = c
		r.CX, r.DX, r.SI, r.DI = statusOK<<16, v.next<<16, c.cookie[0], c.cookie[1]
		return
	}
	c := v.channels[id]
	if c == nil || r.SI != c.cookie[0] || r.DI != c.cookie[1] {
		fail()
		return
	}
	switch typ {
	case msgSendSize:
		c.in, c.want = nil, int(r.BX)
		if c.want == 0 {
			c.reply = v.answer("")
		}
		r.CX = statusOK << 16
	case msgSendPayload:
		if len(c.in) >= c.want {
			fail()
			return
		}
		c.in = binary.LittleEndian.AppendUint32(c.in, r.BX)
		if len(c.in) >= c.want {
			c.reply, c.replyPos = v.answer(string(c.in[:c.want])), 0
		}
		r.CX = statusOK << 16
	case msgRecvSize:
		if c.reply == nil {
			r.CX = statusOK << 16
			return
		}
		r.CX, r.BX, r.DX = (statusOK|statusRecv)<<16, uint32(len(c.reply)), msgSendSize<<16
	case msgRecvPayload:
		if c.replyPos >= len(c.reply) {
			fail()
			return
		}
		var w [4]byte
		copy(w[:], c.reply[c.replyPos:])
		c.replyPos += 4
		r.CX, r.BX, r.DX = statusOK<<16, binary.LittleEndian.Uint32(w[:]), msgSendPayload<<16
	case msgRecvStatus:
		c.reply = nil
		r.CX = statusOK << 16
	case msgClose:
		delete(v.channels, id)
		r.CX = statusOK << 16
	default:
		fail()
	}
}

func (v *vmx) answer(cmd string) []byte {
	if key, ok := strings.CutPrefix(cmd, "info-get guestinfo."); ok {
		if val, ok := v.info[key]; ok {
			return []byte("1 " + val)
		}
		return []byte("0 No value found")
	}
	return []byte("0 Unknown command")
}

// notVMware answers as an empty I/O port does: all ones.
type notVMware struct{}

func (notVMware) Call(r *Regs) {
	*r = Regs{AX: 0xFFFFFFFF, BX: 0xFFFFFFFF, CX: 0xFFFFFFFF, DX: 0xFFFFFFFF}
}

func TestGuestInfo(t *testing.T) {
	long := strings.Repeat("0123456789", 1000) + "abc" // not a multiple of four
	v := &vmx{info: map[string]string{"userdata": long, "metadata.encoding": "gzip+base64", "empty": ""}}
	for _, tc := range []struct {
		key, want string
		found     bool
	}{
		{"userdata", long, true},
		{"metadata.encoding", "gzip+base64", true},
		{"empty", "", true},
		{"nothing", "", false},
	} {
		got, found, err := GuestInfo(v, tc.key)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("%s: got %d bytes, %v, %v; want %d bytes, %v", tc.key, len(got), found, err, len(tc.want), tc.found)
		}
	}
	if len(v.channels) != 0 {
		t.Errorf("%d channels left open", len(v.channels))
	}
	if _, err := RPC(v, "tools.set.version 12"); err == nil || err.Error() != "tools.set.version: refused: Unknown command" {
		t.Errorf("an unknown command: %v", err)
	}
}

func TestNotVMware(t *testing.T) {
	if _, _, err := GuestInfo(notVMware{}, "userdata"); !errors.Is(err, ErrNotVMware) {
		t.Errorf("an empty port: %v, want ErrNotVMware", err)
	}
}

func TestReplyCapped(t *testing.T) {
	v := &vmx{info: map[string]string{"huge": strings.Repeat("x", maxReply)}}
	_, _, err := GuestInfo(v, "huge")
	if err == nil || !strings.Contains(err.Error(), "over 1048576") {
		t.Errorf("a reply over the cap: %v", err)
	}
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		os.Exit(Helper(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The helper, run as PID 1 runs it, on a machine that is not a VMware
// guest: the backdoor's IN faults and kills the child, and the parent
// reads that as no VMware. (On a VMware guest the child answers.)
func TestHelperIsolates(t *testing.T) {
	if _, err := Version(vmxIfAny{}); err == nil {
		t.Skip("a VMware guest")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := HelperCmd(exe, []string{"userdata"})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	_, err = HelperResult(stdout.Bytes(), stderr.Bytes(), ws)
	if !errors.Is(err, ErrNotVMware) || !strings.Contains(err.Error(), "the backdoor call faulted") {
		t.Errorf("got %v (exit %v), want ErrNotVMware: the backdoor faulted", err, ws)
	}
}

// vmxIfAny tells a VMware guest by its DMI vendor, without touching the
// backdoor.
type vmxIfAny struct{}

func (vmxIfAny) Call(r *Regs) {
	b, _ := os.ReadFile("/sys/class/dmi/id/sys_vendor")
	if strings.HasPrefix(string(b), "VMware") {
		r.BX = magic
		return
	}
	*r = Regs{AX: 0xFFFFFFFF}
}

func TestHelperResult(t *testing.T) {
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		ws             syscall.WaitStatus
		want           map[string]string
		err            string
	}{
		{"values", `{"userdata":"x"}` + "\n", "", 0, map[string]string{"userdata": "x"}, ""},
		{"exit 3", "", "guestinfo.userdata: no VMware backdoor\n", 3 << 8, nil, "no VMware backdoor: guestinfo.userdata: no VMware backdoor"},
		{"exit 1", "", "guestinfo.userdata: receive: no size\n", 1 << 8, nil, "guestinfo helper: exit 1: guestinfo.userdata: receive: no size"},
		{"killed", "", "", syscall.WaitStatus(syscall.SIGSEGV), nil, "the backdoor call died of segmentation fault"},
	} {
		got, err := HelperResult([]byte(tc.stdout), []byte(tc.stderr), tc.ws)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
		if len(got) != len(tc.want) || got["userdata"] != tc.want["userdata"] {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
