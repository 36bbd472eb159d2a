package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/berth-os/berth/cmd/internal/cli"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/qemu"
	"github.com/spf13/cobra"
)

func runCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		format, cmdline string
		memory, sshPort int
		uefi, fresh     bool
		autologin       bool
		cloudConfig     string
	)
	c := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Boot a built image in QEMU with its console on this terminal (Ctrl-A X quits)",
		Long: `Boot a built image (from DIR, default out/) in QEMU under TCG, with the
serial console on this terminal and ssh forwarded from 127.0.0.1:2222.
Disks boot from a qcow2 overlay in DIR/run/, so the artifact stays pristine
and the VM's state persists from one run to the next (--fresh discards it).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "out"
			if len(args) == 1 {
				dir = args[0]
			}
			name, err := imageName(dir)
			if err != nil {
				return err
			}
			work := filepath.Join(dir, "run")
			if err := os.MkdirAll(work, 0o755); err != nil {
				return fmt.Errorf("create the VM's folder: %w", err)
			}
			cfg := qemu.Config{Memory: memory, UEFI: uefi, Net: true, Interactive: true,
				HostFwd: []string{fmt.Sprintf("tcp:127.0.0.1:%d-:22", sshPort)}, FwCfg: map[string]string{}}
			flags := strings.TrimSpace(cmdline)
			if autologin {
				flags = strings.TrimSpace(flags + " berth.autologin")
			}
			if flags != "" {
				cfg.FwCfg["opt/berth/cmdline"] = flags
			}
			if cloudConfig != "" {
				// Checked here first: a typo is better caught before a boot.
				_, data, err := cli.LoadUserData(cmd, cloudConfig)
				if err != nil {
					return fmt.Errorf("--cloud-config: %w", err)
				}
				cfg.FwCfg["opt/berth/user-data"] = string(data)
			}
			switch format {
			case "iso":
				cfg.Disks = []qemu.Disk{{Path: filepath.Join(dir, name+".iso"), If: "cdrom", ReadOnly: true}}
			case "raw", "qcow2":
				base, _ := filepath.Abs(filepath.Join(dir, name+"."+format))
				overlay := filepath.Join(work, name+"-"+format+".qcow2")
				if fresh {
					os.Remove(overlay)
				}
				if _, err := os.Stat(overlay); os.IsNotExist(err) {
					o, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", base, overlay).CombinedOutput()
					if err != nil {
						return fmt.Errorf("qemu-img create: %w: %s", err, o)
					}
				}
				cfg.Disks = []qemu.Disk{{Path: overlay, Format: "qcow2"}}
			default:
				return errkind.Mark(errkind.ErrUsage, fmt.Errorf("--format: expected iso, raw or qcow2, got %q", format))
			}
			bin, err := qemu.Binary()
			if err != nil {
				return err // says how to install it
			}
			// A config QEMU can't be given fails before the boot's line.
			if _, err := cfg.Args(work); err != nil {
				return fmt.Errorf("qemu arguments: %w", err)
			}
			// The UEFI variable store that Args just made is the boot's.
			cfg = cfg.Restart(work)
			fmt.Fprintf(stderr, "berth: booting %s (%s, %s) under TCG; ssh -p %d root@127.0.0.1; Ctrl-A X quits\n", name, format, map[bool]string{true: "UEFI", false: "BIOS"}[uefi], sshPort)
			return qemu.Run(cmd.Context(), bin, cfg, work, os.Stdin, os.Stdout, stderr, func() {
				fmt.Fprintln(stderr, "\r\nberth: the machine reset; a new QEMU boots it")
			})
		},
	}
	c.Flags().StringVar(&format, "format", "qcow2", "iso, raw or qcow2")
	c.Flags().IntVar(&memory, "memory", 1024, "RAM in MiB")
	c.Flags().IntVar(&sshPort, "ssh-port", 2222, "host port forwarded to the VM's ssh")
	c.Flags().BoolVar(&uefi, "uefi", false, "boot with OVMF (UEFI) instead of SeaBIOS")
	c.Flags().BoolVar(&fresh, "fresh", false, "discard the VM's disk state from earlier runs")
	c.Flags().BoolVar(&autologin, "autologin", true, "log root in on the consoles (berth.autologin through fw_cfg)")
	c.Flags().StringVar(&cmdline, "cmdline", "", "extra berth.* flags, passed through fw_cfg opt/berth/cmdline")
	c.Flags().StringVar(&cloudConfig, "cloud-config", "", "user-data to give the VM (through fw_cfg opt/berth/user-data)")
	return c
}

// imageName reads the spec name from DIR/manifest.json (the .iso artifact).
func imageName(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return "", fmt.Errorf("no build in %s (run `berth build -o %s` first): %w", dir, dir, err)
	}
	var m struct {
		Artifacts []struct{ Name string } `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	for _, a := range m.Artifacts {
		for _, ext := range []string{".iso", ".raw", ".qcow2"} {
			if strings.HasSuffix(a.Name, ext) {
				return strings.TrimSuffix(a.Name, ext), nil
			}
		}
	}
	return "", fmt.Errorf("%s/manifest.json lists no disk or ISO image", dir)
}
