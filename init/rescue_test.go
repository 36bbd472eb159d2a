package main

import (
	"path/filepath"
	"testing"

	"github.com/berth-os/berth/init/console"
	"github.com/berth-os/berth/init/etc"
	"github.com/berth-os/berth/internal/layout"
)

// PID 1's rescue decides from the image info's rescue and root's hash in
// /etc as phase etc renders it from cloud-config.
func TestRescueDecision(t *testing.T) {
	old := shadow
	defer func() { shadow = old }()
	const hash = "$6$abcdefgh12345678$8qry.al/7S2fAQnDPL..k3GVAXostN0YvxqwHlKr6Jsf/74.qDax5ahH0CISuJF.P2fnhZoX0.4l8IwZUur9t1"
	for _, tc := range []struct {
		name   string
		rescue string
		root   string // root's passwd in cloud-config; "-" renders no /etc
		want   console.Access
	}{
		{"password set", layout.RescuePassword, hash, console.AskPassword},
		{"password set, older image info", "", hash, console.AskPassword},
		{"password set, rescue off", layout.RescueOff, hash, console.NoShell},
		{"no password", layout.RescuePassword, "", console.NoShell},
		{"no password, older image info", "", "", console.NoShell},
		{"no password, rescue shell", layout.RescueShell, "", console.OpenShell},
		{"no /etc yet", layout.RescuePassword, "-", console.NoShell},
		{"no /etc yet, rescue shell", layout.RescueShell, "-", console.OpenShell},
	} {
		dir := t.TempDir()
		if tc.root != "-" {
			if err := etc.Render(dir, "", etc.Config{Hostname: "h", RootPasswd: tc.root}); err != nil {
				t.Fatal(err)
			}
		}
		shadow = filepath.Join(dir, "shadow")
		h := &host{info: layout.Info{Rescue: tc.rescue}}
		if d := h.rescueDecision(); d.Access != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, d.Access, d.Why, tc.want)
		}
	}
}
