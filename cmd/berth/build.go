package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-os/berth/build"
	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/progress"
	"github.com/spf13/cobra"
)

func buildCmd(stdout, stderr io.Writer) *cobra.Command {
	var out, cacheDir string
	var noPrune, imagesOnly bool
	c := &cobra.Command{
		Use:   "build [SPEC]",
		Short: "Build an image from a spec (default images/berth.yaml): kernel, initrd, squashfs, ISO, raw, qcow2",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wd, _ := os.Getwd()
			root, err := build.FindModuleRoot(wd)
			if err != nil {
				return err // names the folder and what it looked for
			}
			specPath := filepath.Join(root, "images", "berth.yaml")
			if len(args) == 1 {
				specPath = args[0]
			}
			spec, err := build.LoadSpec(specPath, root)
			if err != nil {
				return err // names the spec, and each field with its problem
			}
			cc, err := cache.Open(cacheDir)
			if err != nil {
				return fmt.Errorf("%s: %w", cacheDir, err)
			}
			rep := progress.New(stderr)
			defer rep.Close()
			res, err := build.Build(cmd.Context(), build.Options{Spec: spec, OutDir: out, Cache: cc, Progress: rep, ModuleRoot: root, NoPrune: noPrune, ImagesOnly: imagesOnly})
			if err != nil {
				return fmt.Errorf("build %s: %w", specPath, err)
			}
			for _, a := range res.Manifest.Artifacts {
				fmt.Fprintf(stdout, "%-32s %10d  %s\n", a.Name, a.Size, a.SHA256)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "out", "output folder")
	c.Flags().StringVar(&cacheDir, "cache", cache.DefaultRoot(), "cache folder ($BERTH_CACHE, $XDG_CACHE_HOME/berth or ~/.cache/berth)")
	c.Flags().BoolVar(&noPrune, "no-prune", false, "leave the cache as it is (by default a successful build removes what it did not use and the cache policy does not keep)")
	c.Flags().BoolVar(&imagesOnly, "images-only", false, "build only the spec's catalogue_images (out/images/NAME.oci.tar), and prune nothing")
	return c
}
