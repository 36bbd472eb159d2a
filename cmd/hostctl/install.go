package hostctl

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
)

// maxInstallCloudConfig caps the cloud-config file hostctl install sends.
const maxInstallCloudConfig = 512 << 10

// installCmd is hostctl install: PID 1 writes the running system onto a
// disk, as the build writes berth.raw.
func installCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	var req api.InstallRequest
	var cloudConfig string
	c := &cobra.Command{
		Use:   "install --device DISK",
		Short: "Install the running system onto a disk: GPT, GRUB for BIOS and UEFI, the root in slot A, a state partition",
		Long: `Install the running system (booted from the ISO) onto a disk: a GPT with
an EFI partition, GRUB for BIOS and UEFI, the verified root in slot A, an
empty slot B, and a state partition holding the cloud-config given, which
the disk's first boot applies. A disk that holds a partition table or a
filesystem is refused unless --wipe is given. --dry-run prints the plan and
writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Device == "" {
				return errkind.Mark(errkind.ErrUsage, fmt.Errorf("--device: name the disk to install onto, e.g. /dev/vdb"))
			}
			if cloudConfig != "" {
				b, err := readCapped(cloudConfig, maxInstallCloudConfig)
				if err != nil {
					return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("--cloud-config: %w", err))
				}
				if _, err := cloudconfig.Parse(cloudConfig, b); err != nil {
					return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("--cloud-config: not valid, nothing was written:\n%w", err))
				}
				req.CloudConfig = string(b)
			}
			res, err := client().Install(cmd.Context(), req, stdout)
			if err != nil {
				return err
			}
			if !res.Written {
				fmt.Fprintf(stdout, "would write (dry run, nothing written):\n%s", res.Plan)
				return nil
			}
			fmt.Fprintf(stdout, "installed:\n%sremove the install medium and reboot to boot the disk\n", res.Plan)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&req.Device, "device", "", "the disk to install onto (a whole disk, e.g. /dev/vdb)")
	f.StringVar(&cloudConfig, "cloud-config", "", "cloud-config `FILE` for the installed host's first boot (validated first)")
	f.StringVar(&req.Append, "append", "", "kernel `ARGS` to add to the installed disk's boot entries")
	f.BoolVar(&req.Wipe, "wipe", false, "write over a disk that holds a partition table or filesystem")
	f.BoolVar(&req.DryRun, "dry-run", false, "print the plan and write nothing")
	return c
}

// readCapped reads a file of at most max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: over %d KiB", path, max>>10)
	}
	return b, nil
}
