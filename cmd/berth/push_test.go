package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-os/berth/build/ocilayout"
	"github.com/berth-os/berth/internal/osbundle"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// anImage writes a small catalogue-like image to out/images/NAME.oci.tar.
func anImage(t *testing.T, out, name string) *ocilayout.Result {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/sbin/agent"), []byte("#!/bin/sh\n"), 0o755)
	os.MkdirAll(filepath.Join(out, "images"), 0o755)
	f, err := os.Create(filepath.Join(out, "images", name+".oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ocilayout.Write(f, root, t.TempDir(), ocilayout.Image{
		Refs:   []string{"berth.local/" + name + ":1", "berth.local/" + name + ":latest"},
		Config: ocispec.ImageConfig{Cmd: []string{"/usr/sbin/agent"}},
		Epoch:  1735689600,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// berth push sends the image to a registry (one run on 127.0.0.1 by the
// test), and pulling it back by digest gives the same manifest, config
// and layer.
func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	out := t.TempDir()
	want := anImage(t, out, "agent")
	for _, args := range [][]string{
		{"push", "--insecure", filepath.Join(out, "images", "agent.oci.tar"), host + "/berth/agent:1"},
		{"push", "-o", out, "agent", host + "/berth/agent:2"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if got := stdout.String(); got != "pushed "+args[len(args)-1]+" ("+want.Manifest.Digest.String()+")\n" {
			t.Errorf("%q printed %q", args, got)
		}
	}
	for _, ref := range []string{host + "/berth/agent@" + want.Manifest.Digest.String(), host + "/berth/agent:2"} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		d, _ := img.Digest()
		cfg, _ := img.ConfigName()
		layers, _ := img.Layers()
		if len(layers) != 1 {
			t.Fatalf("pull %s: %d layers", ref, len(layers))
		}
		ld, _ := layers[0].Digest()
		diff, _ := layers[0].DiffID()
		if d.String() != want.Manifest.Digest.String() || cfg.String() != want.Config.Digest.String() ||
			ld.String() != want.Layer.Digest.String() || diff.String() != want.DiffID.String() {
			t.Errorf("pull %s: manifest %s config %s layer %s diff %s; want %s %s %s %s", ref, d, cfg, ld, diff,
				want.Manifest.Digest, want.Config.Digest, want.Layer.Digest, want.DiffID)
		}
	}
}

func TestPushErrors(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.oci.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../escape", Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	os.WriteFile(evil, buf.Bytes(), 0o644)
	empty := filepath.Join(dir, "empty.oci.tar")
	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "oci-layout", Size: 2, Mode: 0o644})
	tw.Write([]byte("{}"))
	tw.Close()
	os.WriteFile(empty, buf.Bytes(), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"push", "-o", dir, "docker", "127.0.0.1:1/x:1"}, "push " + filepath.Join(dir, "images", "docker.oci.tar") + ": open "},
		{[]string{"push", evil, "127.0.0.1:1/x:1"}, `push ` + evil + `: entry "../escape": outside the layout`},
		{[]string{"push", empty, "127.0.0.1:1/x:1"}, `push ` + empty + `: `},
		{[]string{"push", evil, "Not A Ref"}, `push: reference "Not A Ref": `},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// berth push of a NAME.bundle sends it as an OCI artifact: one layer, the
// file as it is, with the bundle's version as an annotation.
func TestPushBundle(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var srcs []osbundle.Source
	for _, n := range osbundle.Files {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte(n), 0o644)
		srcs = append(srcs, osbundle.Source{Name: n, Path: p})
	}
	file := filepath.Join(dir, "berth.bundle")
	f, _ := os.Create(file)
	if err := osbundle.Write(f, osbundle.Manifest{Name: "berth", Version: "2.0", Arch: "x86_64"}, srcs, key, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"push", file, host + "/berth/os:2.0"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(host + "/berth/os:2.0")
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	sum := sha256.Sum256(data)
	if m.ArtifactType != osbundle.ArtifactType || len(m.Layers) != 1 || m.Layers[0].MediaType != osbundle.LayerType ||
		m.Layers[0].Digest.Encoded() != hex.EncodeToString(sum[:]) || m.Annotations["org.opencontainers.image.version"] != "2.0" {
		t.Errorf("manifest %s", desc.Manifest)
	}
	if !strings.Contains(stdout.String(), "pushed "+host+"/berth/os:2.0 ("+desc.Digest.String()+")") {
		t.Errorf("printed %q, want the digest %s", stdout.String(), desc.Digest)
	}
}
