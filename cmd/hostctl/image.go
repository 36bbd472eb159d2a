package hostctl

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

func imageCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "image",
		Short: "Images in the system containerd's store: pull, import, list",
		Long: `Images in the system containerd's store (namespace berth), which the
catalogue's services run from. A pull follows berth.registry_mirrors
(/etc/containerd/certs.d), berth.registry_auths and berth.proxy. What is
pulled or imported stays on the state partition: a later boot needs no
network for it.`,
	}
	pull := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image (debian:bookworm is docker.io/library/debian:bookworm) and unpack it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := client().PullImage(cmd.Context(), args[0], stdout)
			if err != nil {
				return err // the host's error names the image
			}
			fmt.Fprintf(stdout, "pulled %s %s\n", img.Name, img.Digest)
			return nil
		},
	}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Load the images of a tarball (OCI image layout or docker save; - for standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err) // names the file; a missing one is not found
				}
				defer f.Close()
				r = f
			}
			imgs, err := client().ImportImages(cmd.Context(), r, stdout)
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			for _, img := range imgs {
				fmt.Fprintf(stdout, "imported %s %s\n", img.Name, img.Digest)
			}
			return nil
		},
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List images: NAME DIGEST SIZE CREATED",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return errkind.Mark(errkind.ErrUsage, fmt.Errorf("-o: expected table or json, got %q", output))
			}
			imgs, err := client().Images(cmd.Context())
			if err != nil {
				return fmt.Errorf("list images: %w", err)
			}
			if output == "json" {
				if imgs == nil {
					imgs = []api.Image{}
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(imgs)
			}
			printImages(stdout, imgs)
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	c.AddCommand(pull, imp, list)
	return c
}

func printImages(w io.Writer, imgs []api.Image) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tCREATED")
	for _, img := range imgs {
		d := strings.TrimPrefix(img.Digest, "sha256:")
		if len(d) > 12 {
			d = d[:12]
		}
		created := "-"
		if !img.Created.IsZero() {
			created = img.Created.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Name, d, units.HumanSize(float64(img.Size)), created)
	}
	tw.Flush()
}
