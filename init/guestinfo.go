package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/berth-os/berth/internal/vmware"
)

// guestInfo reads VMware guestinfo keys for the vmware datasource. The
// backdoor is read in a child process of PID 1's own binary
// (vmware.Helper): on any hypervisor but VMware, the IN it executes
// faults, and only the child may pay for that.
func (h *host) guestInfo(ctx context.Context, keys []string) (map[string]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("guestinfo helper: %w", err)
	}
	cmd := vmware.HelperCmd(exe, keys)
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	ch, err := h.reaper.Start(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("guestinfo helper: %w", err)
	}
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	for _, c := range []struct {
		r *os.File
		b *bytes.Buffer
	}{{outR, &stdout}, {errR, &stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(c.b, io.LimitReader(c.r, 2<<20)) // a reply is at most 1 MiB a key
			c.r.Close()
		}()
	}
	var ws syscall.WaitStatus
	select {
	case ws = <-ch:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-ch
		wg.Wait()
		return nil, fmt.Errorf("guestinfo helper: %w", ctx.Err())
	}
	wg.Wait()
	return vmware.HelperResult(stdout.Bytes(), stderr.Bytes(), ws)
}
