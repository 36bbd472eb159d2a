package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("#cloud-config\nberth:\n  netwrok: {}\n"), 0o644)
	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"config", "validate", "-i", bad}, &out, &errb)
	if err == nil || !strings.Contains(errb.String(), bad+":3: berth.netwrok: unknown key (did you mean berth.network?)") {
		t.Errorf("err %v stderr %q", err, errb.String())
	}
}
