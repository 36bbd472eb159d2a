package logging

import (
	"bufio"
	"errors"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    record
		wantErr string // substring; "" means no error
	}{{
		name: "stdout",
		in:   `{"svc":"network","ts":1732337700123456789,"stream":"stdout","line":"network: eth0: lease 10.0.2.15"}`,
		want: record{Svc: "network", TS: 1732337700123456789, Stream: "stdout", Line: "network: eth0: lease 10.0.2.15"},
	}, {
		name: "stderr with unknown fields",
		in:   `{"svc":"udev-trigger.2","ts":1,"stream":"stderr","line":"oops","pid":42,"extra":{"a":[1]}}`,
		want: record{Svc: "udev-trigger.2", TS: 1, Stream: "stderr", Line: "oops"},
	}, {
		name: "no ts",
		in:   `{"svc":"ntp","stream":"stdout","line":"synced"}`,
		want: record{Svc: "ntp", Stream: "stdout", Line: "synced"},
	}, {
		name:    "not json",
		in:      `network: eth0 up`,
		wantErr: "decode record",
	}, {
		name:    "truncated",
		in:      `{"svc":"network","ts":1,"str`,
		wantErr: "decode record",
	}, {
		name:    "ts of the wrong type",
		in:      `{"svc":"network","ts":"now","stream":"stdout","line":"x"}`,
		wantErr: "decode record",
	}, {
		name:    "no svc",
		in:      `{"ts":1,"stream":"stdout","line":"x"}`,
		wantErr: "record svc: missing",
	}, {
		name:    "svc with a slash",
		in:      `{"svc":"../etc/passwd","ts":1,"stream":"stdout","line":"x"}`,
		wantErr: "not a safe file name",
	}, {
		name:    "svc starting with a dot",
		in:      `{"svc":".hidden","ts":1,"stream":"stdout","line":"x"}`,
		wantErr: "not a safe file name",
	}, {
		name:    "svc in capitals",
		in:      `{"svc":"Network","ts":1,"stream":"stdout","line":"x"}`,
		wantErr: "not a safe file name",
	}, {
		name:    "svc too long",
		in:      `{"svc":"` + strings.Repeat("a", 65) + `","ts":1,"stream":"stdout","line":"x"}`,
		wantErr: "longer than 64",
	}, {
		name:    "unknown stream",
		in:      `{"svc":"network","ts":1,"stream":"stdin","line":"x"}`,
		wantErr: "want stdout or stderr",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRecord([]byte(tc.in))
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

func TestCheckName(t *testing.T) {
	// want is "" for a good name, else the error.
	for name, want := range map[string]string{
		"a": "", "network": "", "0day": "", "a_b.c-d": "", strings.Repeat("x", 64): "",
		"":                      "missing",
		"-a":                    `"-a": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"_a":                    `"_a": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		".":                     `".": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"..":                    `"..": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"a/b":                   `"a/b": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"a b":                   `"a b": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"a\x00":                 `"a\x00": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		"é":                     `"é": not a safe file name ([a-z0-9][a-z0-9_.-]*)`,
		strings.Repeat("x", 65): `"` + strings.Repeat("x", 64) + `"...: longer than 64 bytes`,
	} {
		got := ""
		if err := checkName(name); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("checkName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRecordFormat(t *testing.T) {
	received := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name string
		r    record
		want string
	}{
		{"own time", record{TS: 1732337700123456789, Line: "eth0 up"}, "2024-11-23T04:55:00.123456Z eth0 up\n"},
		{"receive time", record{Line: "x"}, "2030-01-02T03:04:05.000006Z x\n"},
		{"control characters", record{TS: 1732337700123456789, Line: "a\nb\x1b[0m\tc\r\n"}, "2024-11-23T04:55:00.123456Z a#012b#033[0m\tc\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.r.format(received)); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	in := "one\n" + strings.Repeat("x", 100) + "\ntwo\n\nthree"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	type result struct {
		Line string
		Err  string
	}
	var got []result
	for {
		line, err := readLine(r, 50)
		res := result{Line: string(line)}
		if err != nil {
			res.Err = err.Error()
		}
		got = append(got, res)
		if err != nil && !errors.Is(err, errTooLong) {
			break
		}
	}
	want := []result{
		{Line: "one"},
		{Err: errTooLong.Error()},
		{Line: "two"},
		{Line: ""},
		{Line: "three", Err: io.EOF.Error()},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHandleIngest feeds one connection's worth of lines: bad ones are
// skipped and counted, the good ones around them still land.
func TestHandleIngest(t *testing.T) {
	dir := t.TempDir()
	var diag strings.Builder
	s := &service{log: log.New(&diag, "logging: ", 0), files: newFileSet(dir, 1<<20, 1, 8, log.New(&diag, "logging: ", 0))}
	in := strings.Join([]string{
		`{"svc":"network","ts":1732337700000000000,"stream":"stdout","line":"first"}`,
		`garbage`,
		`{"svc":"../escape","ts":1732337700000000000,"stream":"stdout","line":"no"}`,
		``,
		`{"svc":"` + strings.Repeat("a", maxRecord) + `"}`,
		`{"svc":"console","ts":1732337701000000000,"stream":"stderr","line":"second"}`,
		`{"svc":"network","ts":1732337702000000000,"stream":"stdout","line":"third"}`,
	}, "\n") + "\n"
	s.handleIngest(strings.NewReader(in))
	if err := s.files.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"network.log": "2024-11-23T04:55:00.000000Z first\n2024-11-23T04:55:02.000000Z third\n",
		"console.log": "2024-11-23T04:55:01.000000Z second\n",
	}
	if diff := cmp.Diff(want, readDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if !strings.Contains(diag.String(), "6 records, 3 malformed skipped") {
		t.Errorf("diagnostics do not count the malformed records:\n%s", diag.String())
	}
}
