package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// tree is root → alpha → beta → gamma, with gamma a leaf that records its
// runs.
func tree(ran *[]string) *cobra.Command {
	root := &cobra.Command{Use: "root"}
	a := &cobra.Command{Use: "alpha", Short: "group alpha"}
	b := &cobra.Command{Use: "beta", Short: "group beta"}
	c := &cobra.Command{Use: "gamma", Short: "leaf gamma", RunE: func(cmd *cobra.Command, args []string) error {
		*ran = append(*ran, cmd.CommandPath())
		return nil
	}}
	b.AddCommand(c)
	a.AddCommand(b)
	root.AddCommand(a)
	return root
}

func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string // "" for success
		out  string // on stdout
		help string // on stderr
		ran  []string
	}{
		{name: "leaf", args: []string{"alpha", "beta", "gamma"}, ran: []string{"root alpha beta gamma"}},
		{name: "unknown at depth 3", args: []string{"alpha", "beta", "frob"}, err: `unknown command "frob" for "root alpha beta"`},
		{name: "unknown at depth 2, a suggestion", args: []string{"alpha", "betta"}, err: `unknown command "betta" for "root alpha"` + "\n\nDid you mean this?\n\tbeta"},
		{name: "bare group at depth 2", args: []string{"alpha", "beta"}, err: `missing command for "root alpha beta"`, help: "Usage:\n  root alpha beta [command]\n\nAvailable Commands:\n  gamma"},
		{name: "extra argument to a leaf that declares none", args: []string{"alpha", "beta", "gamma", "frob"}, err: `unknown command "frob" for "root alpha beta gamma"`},
		{name: "unknown flag", args: []string{"alpha", "beta", "gamma", "--frob"}, err: "unknown flag: --frob"},
		{name: "help of a leaf", args: []string{"help", "alpha", "beta", "gamma"}, out: "leaf gamma"},
		{name: "help flag of a group", args: []string{"alpha", "--help"}, out: "Usage:\n  root alpha [command]\n"},
		{name: "help of an unknown topic", args: []string{"help", "alpha", "frob"}, err: `unknown command "frob" for "root alpha"`},
		{name: "root help has the exit statuses", args: []string{"--help"}, out: "Exit status:\n  0  success\n"},
		{name: "completion is strict too", args: []string{"completion", "frob"}, err: `unknown command "frob" for "root completion"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			var out, errb bytes.Buffer
			err := Execute(context.Background(), tree(&ran), tc.args, &out, &errb)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, errkind.ErrUsage)):
				t.Fatalf("err = %v, want %q of kind usage", err, tc.err)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("stdout lacks %q:\n%s", tc.out, out.String())
			}
			if !strings.Contains(errb.String(), tc.help) {
				t.Errorf("stderr lacks %q:\n%s", tc.help, errb.String())
			}
			if tc.help == "" && tc.out == "" && out.Len()+errb.Len() > 0 {
				t.Errorf("unexpected output: stdout %q stderr %q", out.String(), errb.String())
			}
			if diff := cmp.Diff(tc.ran, ran); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
		})
	}
	// The exit statuses are on the root's help only.
	var ran []string
	var out bytes.Buffer
	if err := Execute(context.Background(), tree(&ran), []string{"alpha", "--help"}, &out, &out); err != nil || strings.Contains(out.String(), "Exit status") {
		t.Errorf("root alpha --help: %v\n%s", err, out.String())
	}
}

func TestValidateCmd(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("#cloud-config\nhostnme: m\nberth:\n  netwrok: {}\n"), 0o644)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		kind  error
		err   string
		out   string
		warn  string
	}{
		{name: "valid from stdin", args: []string{"-i", "-"}, stdin: "#cloud-config\nhostname: n1\npackages: [vim]\n", out: "-: valid: 1 keys, 0 scripts, 1 warnings\n", warn: "warning: -:3: packages: ignored"},
		{name: "every problem with file, line and path", args: []string{"-i", bad}, kind: errkind.ErrInvalidConfig,
			err: bad + ":2: hostnme: unknown key (did you mean hostname?)\n" + bad + ":4: berth.netwrok: unknown key (did you mean berth.network?)"},
		{name: "no file", args: nil, kind: errkind.ErrUsage, err: "-i: give a file (- for standard input)"},
		{name: "network-config v2", args: []string{"--network-config", "-"}, stdin: "network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: true, wakeonlan: true}\n",
			out: "-: valid network-config: 1 warnings\n", warn: "warning: -: network-config: ethernets.eth0.wakeonlan: not supported, ignored"},
		{name: "network-config v1 with a bad address", args: []string{"--network-config", "-"}, stdin: "version: 1\nconfig:\n  - {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.300/24}]}\n",
			kind: errkind.ErrInvalidConfig, err: `- (as berth.network): berth.network.interfaces.eth0.addresses[0]: "10.0.0.300/24" is not an address with a prefix length such as 192.168.1.10/24`},
		{name: "network-config of an unknown version", args: []string{"--network-config", "-"}, stdin: "version: 3\n",
			kind: errkind.ErrInvalidConfig, err: "-: network-config: version: expected 1 or 2, got 3"},
		{name: "missing file", args: []string{"-i", filepath.Join(dir, "none")}, kind: errkind.ErrNotFound, err: "open " + filepath.Join(dir, "none") + ": no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ValidateCmd()
			var out, errb bytes.Buffer
			c.SetArgs(tc.args)
			c.SetIn(strings.NewReader(tc.stdin))
			c.SetOut(&out)
			c.SetErr(&errb)
			c.SilenceErrors, c.SilenceUsage = true, true
			err := c.Execute()
			if got := fmt.Sprint(err); tc.kind != nil && (got != tc.err || errkind.ExitCode(err) != errkind.ExitCode(tc.kind)) {
				t.Errorf("err = %q, want %q of kind %v", got, tc.err, tc.kind)
			}
			if tc.kind == nil && err != nil {
				t.Errorf("err = %v", err)
			}
			if out.String() != tc.out || !strings.Contains(errb.String(), tc.warn) {
				t.Errorf("stdout %q, want %q; stderr %q, want %q in it", out.String(), tc.out, errb.String(), tc.warn)
			}
		})
	}
}
