package vmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"runtime/debug"
	"syscall"
)

// HelperArg is the argument with which a program runs Helper: PID 1 reads
// guestinfo in a child process of its own binary, which the backdoor's
// fault may kill where the hypervisor is not VMware.
const HelperArg = "--vmware-guestinfo"

// Helper reads the guestinfo keys through the backdoor and writes them to
// w as a JSON object of the keys that are set; it returns the exit code.
// It is the child's side of ReadIsolated.
func Helper(keys []string, w, errw io.Writer) (code int) {
	runtime.LockOSThread()
	// Elsewhere than VMware, IN on the port faults: that is a panic here,
	// not a crash, and says no VMware.
	debug.SetPanicOnFault(true)
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(errw, "the backdoor call faulted (%v)\n", r)
			code = 3
		}
	}()
	out := map[string]string{}
	for _, k := range keys {
		v, found, err := GuestInfo(Backdoor{}, k)
		if err != nil {
			fmt.Fprintf(errw, "guestinfo.%s: %v\n", k, err)
			if errors.Is(err, ErrNotVMware) {
				return 3
			}
			return 1
		}
		if found {
			out[k] = v
		}
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	return 0
}

// HelperCmd is the command that runs Helper in exe (a program that calls
// Helper when its first argument is HelperArg) for the keys.
func HelperCmd(exe string, keys []string) *exec.Cmd {
	return exec.Command(exe, append([]string{HelperArg}, keys...)...)
}

// HelperResult reads what a helper wrote to stdout and how it ended: exit
// 3 (the backdoor faulted, or did not answer as VMware's) or killed by a
// signal is ErrNotVMware.
func HelperResult(stdout, stderr []byte, ws syscall.WaitStatus) (map[string]string, error) {
	switch {
	case ws.Signaled():
		return nil, fmt.Errorf("%w: the backdoor call died of %v (the hypervisor is not VMware's)", ErrNotVMware, ws.Signal())
	case ws.ExitStatus() == 3:
		return nil, fmt.Errorf("%w: %s", ErrNotVMware, trimNL(stderr))
	case ws.ExitStatus() != 0:
		return nil, fmt.Errorf("guestinfo helper: exit %d: %s", ws.ExitStatus(), trimNL(stderr))
	}
	var out map[string]string
	if err := json.Unmarshal(stdout, &out); err != nil {
		return nil, fmt.Errorf("guestinfo helper: %w", err)
	}
	return out, nil
}

func trimNL(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
