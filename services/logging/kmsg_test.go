package logging

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeKmsg behaves like /dev/kmsg: each Read returns the next step, one
// record or an error such as EPIPE; then io.EOF.
type fakeKmsg struct {
	steps []kmsgStep
}

type kmsgStep struct {
	data string
	err  error
}

func (f *fakeKmsg) Read(p []byte) (int, error) {
	if len(f.steps) == 0 {
		return 0, io.EOF
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if len(s.data) > len(p) {
		return 0, syscall.EINVAL // what the kernel does
	}
	return copy(p, s.data), s.err
}

func TestParseKmsg(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    kmsgRecord
		wantErr string
	}{
		{"record", "6,339,5140900,-;NET: Registered PF_INET6 protocol family",
			kmsgRecord{Seq: 339, TS: 5140900, Msg: "NET: Registered PF_INET6 protocol family"}, ""},
		{"extra prefix fields", "4,2,3,c,caller=T1;a;b,c", kmsgRecord{Seq: 2, TS: 3, Msg: "a;b,c"}, ""},
		{"no flags", "12,7,8;userspace", kmsgRecord{Seq: 7, TS: 8, Msg: "userspace"}, ""},
		{"empty message", "6,1,2,-;", kmsgRecord{Seq: 1, TS: 2}, ""},
		{"continuation", " SUBSYSTEM=acpi", kmsgRecord{}, "continuation line"},
		{"no semicolon", "6,339,5140900,-", kmsgRecord{}, "no ';'"},
		{"too few fields", "6,339;x", kmsgRecord{}, "want PRI,SEQ,TSUSEC"},
		{"bad seq", "6,x,1,-;x", kmsgRecord{}, "field 2"},
		{"negative time", "6,1,-5,-;x", kmsgRecord{}, "field 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKmsg(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKmsgFormat(t *testing.T) {
	boot := time.Date(2024, 11, 23, 4, 54, 47, 777777000, time.UTC)
	tests := []struct {
		rec  kmsgRecord
		want string
	}{
		{kmsgRecord{TS: 0, Msg: "Linux version 6.12"}, "2024-11-23T04:54:47.777777Z [    0.000000] Linux version 6.12\n"},
		{kmsgRecord{TS: 12345678, Msg: "eth0: link up"}, "2024-11-23T04:55:00.123455Z [   12.345678] eth0: link up\n"},
		{kmsgRecord{TS: 123456789012, Msg: "late"}, "2024-11-24T15:12:24.566789Z [123456.789012] late\n"},
		{kmsgRecord{TS: 1, Msg: `esc\x1b`}, "2024-11-23T04:54:47.777778Z [    0.000001] esc\\x1b\n"},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, tc.rec.format(boot)); diff != "" {
			t.Errorf("line (-want +got):\n%s", diff)
		}
	}
}

func TestReadKmsg(t *testing.T) {
	tests := []struct {
		name  string
		steps []kmsgStep
		want  []kmsgRecord
	}{{
		name: "one record per read, with continuation lines",
		steps: []kmsgStep{
			{data: "6,0,0,-;Linux version 6.12\n"},
			{data: "6,1,1500,-;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n"},
			{data: "3,2,2000,-;oops\n"},
		},
		want: []kmsgRecord{{0, 0, "Linux version 6.12"}, {1, 1500, "usb 1-1: new device"}, {2, 2000, "oops"}},
	}, {
		name: "EPIPE is not the end",
		steps: []kmsgStep{
			{data: "6,10,1,-;a\n"},
			{err: syscall.EPIPE},
			{data: "6,15,2,-;b\n"},
		},
		want: []kmsgRecord{{10, 1, "a"}, {15, 2, "b"}},
	}, {
		name: "malformed lines are skipped",
		steps: []kmsgStep{
			{data: "garbage\n"},
			{data: "6,1,1,-;a\n"},
		},
		want: []kmsgRecord{{1, 1, "a"}},
	}, {
		name: "a plain file: many records per read, split across reads, no final newline",
		steps: []kmsgStep{
			{data: "6,1,1,-;a\n SUBSYSTEM=x\n6,2,2,-;b\n6,3"},
			{data: ",3,-;c\n6,4,4,-;d"},
		},
		want: []kmsgRecord{{1, 1, "a"}, {2, 2, "b"}, {3, 3, "c"}, {4, 4, "d"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := make(chan kmsgRecord, 100)
			err := readKmsg(&fakeKmsg{steps: tc.steps}, out, nil, log.New(io.Discard, "", 0))
			if err != nil {
				t.Fatal(err)
			}
			close(out)
			var got []kmsgRecord
			for r := range out {
				got = append(got, r)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadKmsgFails(t *testing.T) {
	out := make(chan kmsgRecord, 1)
	steps := []kmsgStep{{err: syscall.EIO}}
	err := readKmsg(&fakeKmsg{steps: steps}, out, nil, log.New(io.Discard, "", 0))
	if err == nil || !strings.Contains(err.Error(), "read kernel log") {
		t.Errorf("error %v, want a read kernel log error", err)
	}
}

// TestKernelLogRestart runs the kernel log over the same ring buffer as a
// restarted service would: what a previous run of this boot wrote is skipped.
func TestKernelLogRestart(t *testing.T) {
	boot := time.Date(2024, 11, 23, 4, 0, 0, 0, time.UTC)
	ring := []kmsgStep{
		{data: "6,1,1000000,-;one\n"},
		{data: "6,2,2000000,-;two\n SUBSYSTEM=net\n"},
		{err: syscall.EPIPE}, // 3 and 4 overwritten
		{data: "6,5,5000000,-;five\n"},
		{data: "6,6,6000000,-;six\n"},
	}
	line := map[int]string{
		1: "2024-11-23T04:00:01.000000Z [    1.000000] one\n",
		2: "2024-11-23T04:00:02.000000Z [    2.000000] two\n",
		5: "2024-11-23T04:00:05.000000Z [    5.000000] five\n",
		6: "2024-11-23T04:00:06.000000Z [    6.000000] six\n",
	}
	tests := []struct {
		name      string
		bootID    string
		state     string // content of .kernel.seq at start; "" for none
		wantLines []int
		wantState string // "" for no file
		wantDiag  string // substring of the diagnostics
	}{
		{"first run", "boot-a", "", []int{1, 2, 5, 6}, "boot-a 6\n", "2 records lost before seq 5"},
		{"restart in the same boot", "boot-a", "boot-a 2\n", []int{5, 6}, "boot-a 6\n", "2 records lost before seq 5"},
		{"restart after everything", "boot-a", "boot-a 6\n", nil, "boot-a 6\n", ""},
		{"state of an earlier boot", "boot-b", "boot-a 5\n", []int{1, 2, 5, 6}, "boot-b 6\n", ""},
		{"malformed state", "boot-a", "boot-a six\n", []int{1, 2, 5, 6}, "boot-a 6\n", "malformed"},
		{"unknown boot id", "", "boot-a 2\n", []int{1, 2, 5, 6}, "boot-a 2\n", ""},
		{"unknown boot id, no state", "", "", []int{1, 2, 5, 6}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.state != "" {
				if err := os.WriteFile(filepath.Join(dir, seqFile), []byte(tc.state), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			var diag strings.Builder
			logger := log.New(&diag, "logging: ", 0)
			files := newFileSet(dir, 1<<20, 1, 8, logger)
			k := newKernelLog(files, dir, tc.bootID, boot, logger)
			steps := append([]kmsgStep(nil), ring...)
			if err := k.run(&fakeKmsg{steps: steps}, make(chan struct{})); err != nil {
				t.Fatal(err)
			}
			if err := files.Close(); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, n := range tc.wantLines {
				want[kernelFile] += line[n]
			}
			if tc.wantState != "" {
				want[seqFile] = tc.wantState
			}
			if diff := cmp.Diff(want, readDir(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if !strings.Contains(diag.String(), tc.wantDiag) {
				t.Errorf("diagnostics lack %q:\n%s", tc.wantDiag, diag.String())
			}
		})
	}
}

func TestKernelLogStop(t *testing.T) {
	// A reader that never returns, like /dev/kmsg with nothing new.
	pr, pw := io.Pipe()
	defer pw.Close()
	dir := t.TempDir()
	logger := log.New(io.Discard, "", 0)
	files := newFileSet(dir, 1<<20, 1, 8, logger)
	defer files.Close()
	k := newKernelLog(files, dir, "boot-a", time.Unix(0, 0), logger)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- k.run(pr, stop) }()
	if _, err := pw.Write([]byte("6,1,1,-;one\n")); err != nil {
		t.Fatal(err)
	}
	// The position is saved after each burst, without waiting for more.
	state := filepath.Join(dir, seqFile)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := os.ReadFile(state); string(got) == "boot-a 1\n" {
			break
		}
		if time.Now().After(deadline) {
			got, _ := os.ReadFile(state)
			t.Fatalf("%s = %q, want %q", seqFile, got, "boot-a 1\n")
		}
	}
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after stop while a read was pending")
	}
}
