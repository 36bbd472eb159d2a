package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/deb"
	"github.com/berth-os/berth/build/progress"
	"github.com/berth-os/berth/internal/atomicfile"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/kernel"
	"github.com/spf13/cobra"
)

func kernelCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "kernel", Short: "The tuned kernel"}
	var latest bool
	var version, pinPath, req string
	pin := &cobra.Command{
		Use:   "pin (--latest | --version V)",
		Short: "Move the kernel source pin (kernel/pin.yaml) to another Debian linux-source version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if latest == (version != "") {
				return errkind.Mark(errkind.ErrUsage, errors.New("give exactly one of --latest and --version"))
			}
			cur, err := kernel.LoadPin(pinPath)
			if err != nil {
				return err // names the pin file
			}
			// The same mirrors and suites as every other package.
			r, err := deb.LoadRequest(req)
			if err != nil {
				return err // names the file, and each field with its problem
			}
			pkgs, err := deb.FetchIndexes(cmd.Context(), r)
			if err != nil {
				return err // names the index
			}
			var found *deb.Package
			for i, p := range pkgs {
				if p.Name != cur.Source.Package {
					continue
				}
				if version != "" && p.Version == version {
					found = &pkgs[i]
					break
				}
				if latest && (found == nil || deb.CompareVersions(p.Version, found.Version) > 0) {
					found = &pkgs[i]
				}
			}
			if found == nil {
				return fmt.Errorf("%s %s is not in the indexes of %s: %w", cur.Source.Package, version, req, errkind.ErrNotFound)
			}
			src := kernel.Source{Package: found.Name, Version: found.Version, SHA256: found.SHA256,
				URL: strings.TrimRight(found.MirrorBase, "/") + "/" + found.Filename}
			if src == cur.Source {
				fmt.Fprintf(stdout, "kernel pin already at %s %s\n", src.Package, src.Version)
				return nil
			}
			if err := atomicfile.Write(pinPath, []byte(kernel.FormatPin(src)), 0o644); err != nil {
				return err // names the file
			}
			fmt.Fprintf(stdout, "kernel pin moved from %s to %s in %s; commit it\n", cur.Source.Version, src.Version, pinPath)
			return nil
		},
	}
	pin.Flags().BoolVar(&latest, "latest", false, "the newest version in bookworm and bookworm-security")
	pin.Flags().StringVar(&version, "version", "", "a given Debian version, e.g. 6.12.117-1~deb12u1")
	pin.Flags().StringVar(&pinPath, "pin", kernel.PinPath, "pin file")
	pin.Flags().StringVar(&req, "request", "images/packages.yaml", "the mirrors and suites to look in")
	c.AddCommand(pin, kernelCheckCmd(stdout, stderr))
	return c
}

func kernelCheckCmd(stdout, stderr io.Writer) *cobra.Command {
	var cacheDir string
	c := &cobra.Command{
		Use:   "check-incremental",
		Short: "Check that the kernel work tree's incremental build gives the cached kernel's bytes (two incremental builds, once per kernel)",
		Long: `check-incremental builds the tuned kernel if the cache lacks it, then, in
the kernel work tree, builds its config with a probe change on top and its
own config again, and compares vmlinuz and every module file with the
cached kernel. A config change is built incrementally in that tree, so this
is what makes an incremental build as good as a clean one. The verdict is
cached with the kernel's key; make test runs it after the image build.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cache.Open(cacheDir)
			if err != nil {
				return fmt.Errorf("%s: %w", cacheDir, err)
			}
			rep := progress.New(stderr)
			r, err := kernel.CheckIncremental(cmd.Context(), cc, rep)
			rep.Close()
			if err != nil {
				return err
			}
			// The check's entry and the kernel's are kept by a prune as
			// long as a week passes between two checks.
			if err := cc.RecordAs("kernel-check"); err != nil {
				return err
			}
			when := "checked now"
			if r.Cached {
				when = "checked before (cached verdict)"
			}
			fmt.Fprintf(stdout, "kernel incremental build: same bytes as the cached kernel (built %s), %d files compared; %s\n", r.StageFrom, r.Compared, when)
			fmt.Fprintf(stdout, "  away (%s): %.0fs, back: %.0fs\n", strings.ReplaceAll(r.Probe, "\n", ", "), r.AwaySeconds, r.BackSeconds)
			return nil
		},
	}
	c.Flags().StringVar(&cacheDir, "cache", cache.DefaultRoot(), "cache folder ($BERTH_CACHE, $XDG_CACHE_HOME/berth or ~/.cache/berth)")
	return c
}
