package main

import (
	"context"
	"errors"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/images"
	"github.com/google/go-cmp/cmp"
)

// Each pull reads berth.registry_auths and berth.proxy as they are now.
func TestImageOptions(t *testing.T) {
	doc, err := cloudconfig.Parse("t", []byte("#cloud-config\nberth:\n  registry_auths:\n    docker.io: {username: u, password: p}\n    \"10.0.2.2:5000\": {auth: dTpw}\n  proxy: {https_proxy: \"http://proxy:3128\", no_proxy: localhost}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := &host{cfg: &hostConfig{merged: &cloudconfig.Merged{Config: doc.Config}}}
	want := images.Options{
		HostsDir: images.HostsDir,
		Auths:    map[string]images.Auth{"docker.io": {Username: "u", Password: "p"}, "10.0.2.2:5000": {Auth: "dTpw"}},
		Proxy:    images.Proxy{HTTPS: "http://proxy:3128", No: "localhost"},
	}
	if d := cmp.Diff(want, h.imageOptions()); d != "" {
		t.Errorf("imageOptions (-want +got):\n%s", d)
	}
	if d := cmp.Diff(images.Options{HostsDir: images.HostsDir}, (&host{}).imageOptions()); d != "" {
		t.Errorf("imageOptions before config (-want +got):\n%s", d)
	}
}

// Before the system containerd runs, the image calls say so.
func TestImagesBeforeContainerd(t *testing.T) {
	_, err := (&host{}).PullImage(context.Background(), "debian", nil)
	if !errors.Is(err, errkind.ErrUnavailable) || err.Error() != "the system containerd is not running yet" {
		t.Errorf("pull before containerd: %v; want unavailable, the system containerd is not running yet", err)
	}
}
