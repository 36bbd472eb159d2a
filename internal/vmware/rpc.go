// Package vmware speaks to a VMware hypervisor through its backdoor, the
// I/O port 0x5658 that VMware intercepts: the RPC channel (RPCI) through
// which a guest reads its guestinfo variables (info-get guestinfo.KEY), as
// open-vm-tools' vmware-rpctool does. The protocol is the one of
// open-vm-tools' lib/message, low-bandwidth: four bytes a call.
package vmware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Regs are the registers of one backdoor call, in and out.
type Regs struct {
	AX, BX, CX, DX, SI, DI uint32
}

// Port is the backdoor: Call sets the registers, executes IN on the port,
// and reads them back. Tests give a fake hypervisor.
type Port interface {
	Call(r *Regs)
}

const (
	magic       = 0x564D5868 // "VMXh"
	ioPort      = 0x5658
	cmdVersion  = 10
	cmdMessage  = 30
	rpciProto   = 0x49435052 // "RPCI"
	flagCookie  = 0x80000000
	maxReply    = 1 << 20 // a guestinfo value larger than this is refused
	statusOK    = 0x0001
	statusRecv  = 0x0002 // a reply is waiting
	statusCheck = 0x0010 // the VM was checkpointed during the call: try again
)

// Message types: the high half of CX in a message call.
const (
	msgOpen = iota
	msgSendSize
	msgSendPayload
	msgRecvSize
	msgRecvPayload
	msgRecvStatus
	msgClose
)

// ErrNotVMware means the backdoor did not answer as VMware's does.
var ErrNotVMware = errors.New("no VMware backdoor")

// Version asks the backdoor for its version: it answers with the magic
// in BX only on VMware (and hypervisors that emulate it).
func Version(p Port) (uint32, error) {
	r := Regs{AX: magic, BX: ^uint32(magic), CX: cmdVersion, DX: ioPort}
	p.Call(&r)
	if r.BX != magic || r.AX == 0xFFFFFFFF {
		return 0, ErrNotVMware
	}
	return r.AX, nil
}

// channel is an open RPCI channel.
type channel struct {
	p      Port
	id     uint32
	si, di uint32 // the cookie
}

func (c *channel) call(typ, bx uint32) Regs {
	r := Regs{AX: magic, BX: bx, CX: typ<<16 | cmdMessage, DX: c.id<<16 | ioPort, SI: c.si, DI: c.di}
	c.p.Call(&r)
	return r
}

func ok(r Regs) bool { return (r.CX>>16)&statusOK != 0 }

func open(p Port) (*channel, error) {
	c := &channel{p: p}
	r := c.call(msgOpen, rpciProto|flagCookie)
	if !ok(r) {
		return nil, fmt.Errorf("open an RPC channel: %w", ErrNotVMware)
	}
	c.id, c.si, c.di = r.DX>>16, r.SI, r.DI
	return c, nil
}

func (c *channel) send(b []byte) error {
	if r := c.call(msgSendSize, uint32(len(b))); !ok(r) {
		return errors.New("send: the size was refused")
	}
	for len(b) > 0 {
		var w [4]byte
		n := copy(w[:], b)
		b = b[n:]
		if r := c.call(msgSendPayload, binary.LittleEndian.Uint32(w[:])); !ok(r) {
			return errors.New("send: the payload was refused")
		}
	}
	return nil
}

func (c *channel) receive() ([]byte, error) {
	r := c.call(msgRecvSize, 0)
	if !ok(r) {
		return nil, errors.New("receive: no size")
	}
	if (r.CX>>16)&statusRecv == 0 {
		return nil, nil
	}
	if r.DX>>16 != msgSendSize {
		return nil, fmt.Errorf("receive: a message of type %d, not a size", r.DX>>16)
	}
	size := int(r.BX)
	if size > maxReply {
		return nil, fmt.Errorf("receive: a reply of %d bytes, over %d", size, maxReply)
	}
	out := make([]byte, 0, size+3)
	for len(out) < size {
		r := c.call(msgRecvPayload, statusOK)
		if !ok(r) || r.DX>>16 != msgSendPayload {
			return nil, errors.New("receive: the payload was cut short")
		}
		out = binary.LittleEndian.AppendUint32(out, r.BX)
	}
	if r := c.call(msgRecvStatus, statusOK); !ok(r) {
		return nil, errors.New("receive: the status was refused")
	}
	return out[:size], nil
}

func (c *channel) close() {
	c.call(msgClose, 0)
}

// RPC sends one command over a new RPC channel and returns the reply.
// Replies start with 1 (done) or 0 (refused) and a space, as in
// "1 value" or "0 No value found"; a refusal is an error with its text.
func RPC(p Port, cmd string) (string, error) {
	if _, err := Version(p); err != nil {
		return "", err
	}
	c, err := open(p)
	if err != nil {
		return "", err
	}
	defer c.close()
	if err := c.send([]byte(cmd)); err != nil {
		return "", fmt.Errorf("%s: %w", firstWord(cmd), err)
	}
	b, err := c.receive()
	if err != nil {
		return "", fmt.Errorf("%s: %w", firstWord(cmd), err)
	}
	status, rest, _ := strings.Cut(string(b), " ")
	if status != "1" {
		return "", &RefusedError{Cmd: firstWord(cmd), Reply: rest}
	}
	return rest, nil
}

// RefusedError is a command the hypervisor answered with 0.
type RefusedError struct {
	Cmd, Reply string
}

func (e *RefusedError) Error() string { return e.Cmd + ": refused: " + e.Reply }

// GuestInfo reads guestinfo.KEY (the VM's extraConfig guestinfo.KEY, or
// one set with vmware-rpctool info-set). An unset key gives "", false.
func GuestInfo(p Port, key string) (string, bool, error) {
	v, err := RPC(p, "info-get guestinfo."+key)
	var refused *RefusedError
	if errors.As(err, &refused) && refused.Reply == "No value found" {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
