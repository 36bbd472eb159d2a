package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-os/berth/cmd/internal/clitest"
)

func TestBuildRejectsBadSpec(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "bad.yaml")
	os.WriteFile(spec, []byte("name: x\nservices: [udev]\nkernle: {}\ndisk: {size: lots}\n"), 0o644)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"build", spec, "-o", filepath.Join(dir, "out"), "--cache", filepath.Join(dir, "cache")}, &out, &errb)
	if err == nil {
		t.Fatal("a bad spec built")
	}
	for _, want := range []string{spec + ":3: kernle: unknown key", spec + `:4: disk.size: expected a size such as 512MiB or 2GiB, got "lots"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("a failed validation still made the output folder")
	}
	err = run(context.Background(), []string{"build", filepath.Join(dir, "missing.yaml")}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing spec: %v", err)
	}
}

func TestRunNeedsABuild(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	err := run(context.Background(), []string{"run", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "no build in "+dir) {
		t.Errorf("err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"artifacts":[{"name":"x.iso"}]}`), 0o644)
	err = run(context.Background(), []string{"run", "--format", "vhd", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `--format: expected iso, raw or qcow2, got "vhd"`) {
		t.Errorf("err = %v", err)
	}
}

// A machine QEMU can't be given (here, a UEFI variable store that can't
// be written) fails before run says it boots, and before any QEMU starts.
func TestRunBadMachine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"artifacts":[{"name":"x.iso"}]}`), 0o644)
	vars := filepath.Join(dir, "run", "OVMF_VARS.fd")
	os.MkdirAll(vars, 0o755) // a folder where the store's file goes
	bin := t.TempDir()
	started := filepath.Join(bin, "started")
	os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte("#!/bin/sh\ntouch "+started+"\n"), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"run", "--uefi", "--format", "iso", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "qemu arguments") || !strings.Contains(err.Error(), vars) {
		t.Errorf("err = %v, want the UEFI variable store named", err)
	}
	if strings.Contains(errb.String(), "booting") {
		t.Errorf("run said it boots before it failed:\n%s", errb.String())
	}
	if _, err := os.Stat(started); err == nil {
		t.Error("a QEMU started")
	}
}

func TestKernelPinFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"kernel", "pin"}, {"kernel", "pin", "--latest", "--version", "1"}} {
		err := run(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "give exactly one of --latest and --version") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("#cloud-config\nhostname: n1\npackages: [vim]\n"), 0o644)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"config", "validate", "-i", good}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "valid: 1 keys, 0 scripts, 1 warnings") || !strings.Contains(errb.String(), "warning: "+good+":3: packages: ignored") {
		t.Errorf("out %q err %q", out.String(), errb.String())
	}
}

func TestMain(m *testing.M) { clitest.Main(m, main) }

// TestExitStatus runs each case through run and through the real main (in
// a child process): the error's kind and its exit status, and what the
// user reads.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "#cloud-config\nhostname: n1\n")
	bad := write("bad.yaml", "#cloud-config\nberth:\n  netwrok: {}\n")
	badSysctl := write("sysctl.yaml", "#cloud-config\nberth:\n  sysctl: {vm.swappiness: banana}\n")
	ros := write("rancheros.yml", "#cloud-config\nrancher:\n  network:\n    dns: {nameservers: [8.8.4.4]}\n    pre_cmds: [echo hi]\n")
	badSpec := write("spec.yaml", "name: x\nservices: [udev]\ndisk: {size: lots}\n")
	missing := filepath.Join(dir, "missing.yaml")
	broken := filepath.Join(dir, "broken")
	os.Mkdir(broken, 0o755)
	write("broken/manifest.json", "{")
	built := filepath.Join(dir, "built")
	os.Mkdir(built, 0o755)
	write("built/manifest.json", `{"artifacts":[{"name":"x.iso"}]}`)
	// A mirror nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	req := write("packages.yaml", fmt.Sprintf("mirrors: {debian: http://%s/debian}\nsuites: [{mirror: debian, suite: bookworm}]\n", l.Addr()))

	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string // in the error, and after "berth: " on stderr
		out  string // on stdout
		help string // on stderr, before the error
	}{
		{name: "valid", args: []string{"config", "validate", "-i", good}, code: 0, out: good + ": valid: 1 keys"},
		{name: "help", args: []string{"--help"}, code: 0, out: "Exit status:\n  0  success\n  1  any other error\n  2  usage"},
		{name: "help of a subcommand", args: []string{"help", "config", "validate"}, code: 0, out: "Check user-data offline"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, err: `unknown command "frobnicate" for "berth"`},
		{name: "unknown subcommand", args: []string{"config", "frob"}, code: 2, err: `unknown command "frob" for "berth config"`},
		{name: "unknown subcommand, a suggestion", args: []string{"config", "validat"}, code: 2, err: `unknown command "validat" for "berth config"` + "\n\nDid you mean this?\n\tvalidate"},
		{name: "unknown subcommand of completion", args: []string{"completion", "tcsh"}, code: 2, err: `unknown command "tcsh" for "berth completion"`},
		{name: "unknown help topic", args: []string{"help", "kernel", "unpin"}, code: 2, err: `unknown command "unpin" for "berth kernel"`},
		{name: "bare group", args: []string{"kernel"}, code: 2, err: `missing command for "berth kernel"`, help: "Usage:\n  berth kernel [command]\n\nAvailable Commands:\n  check-incremental"},
		{name: "extra argument", args: []string{"config", "validate", "x"}, code: 2, err: `unknown command "x" for "berth config validate"`},
		{name: "too many arguments", args: []string{"run", "a", "b"}, code: 2, err: "accepts at most 1 arg(s), received 2"},
		{name: "unknown flag", args: []string{"build", "--frob"}, code: 2, err: "unknown flag: --frob"},
		{name: "bad flag value", args: []string{"run", "--memory", "lots", broken}, code: 2, err: `invalid argument "lots" for "--memory"`},
		{name: "no -i", args: []string{"config", "validate"}, code: 2, err: "-i: give a file"},
		{name: "one of two flags", args: []string{"kernel", "pin"}, code: 2, err: "give exactly one of --latest and --version"},
		{name: "invalid user-data", args: []string{"config", "validate", "-i", bad}, code: 3, err: bad + ":3: berth.netwrok: unknown key (did you mean berth.network?)"},
		{name: "sysctl not a number", args: []string{"config", "validate", "-i", badSysctl}, code: 3, err: badSysctl + `:3: berth.sysctl."vm.swappiness": expected a number, got "banana"`},
		{name: "a RancherOS file", args: []string{"config", "validate", "-i", ros}, code: 0, out: ros + ": valid: 1 keys, 0 scripts, 1 warnings", help: "warning: " + ros + ":5: rancher.network.pre_cmds: ignored: Berth runs no commands around link changes"},
		{name: "invalid user-data for a VM", args: []string{"run", "--cloud-config", bad, built}, code: 3, err: "--cloud-config: " + bad + ":3: berth.netwrok: unknown key"},
		{name: "invalid spec", args: []string{"build", badSpec}, code: 3, err: badSpec + `:3: disk.size: expected a size such as 512MiB or 2GiB, got "lots"`},
		{name: "missing user-data", args: []string{"config", "validate", "-i", missing}, code: 4, err: "open " + missing + ": no such file or directory"},
		{name: "missing spec", args: []string{"build", missing}, code: 4, err: "read image spec: open " + missing + ": no such file or directory"},
		{name: "no build", args: []string{"run", dir}, code: 4, err: "no build in " + dir},
		{name: "mirror down", args: []string{"debs", "lock", "--request", req, "--lock", filepath.Join(dir, "lock")}, code: 5, err: "fetch index http://" + l.Addr().String()},
		{name: "other", args: []string{"run", broken}, code: 1, err: broken + "/manifest.json: unexpected end of JSON input"},
	} {
		clitest.Check(t, tc.name, "berth", run, tc.args, clitest.Want{Code: tc.code, Err: tc.err, Stdout: tc.out, Stderr: tc.help})
	}
}
