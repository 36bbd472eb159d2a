package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/kernel"
	"github.com/spf13/cobra"
)

func cacheCmd(stdout io.Writer) *cobra.Command {
	var dir string
	c := &cobra.Command{Use: "cache", Short: "Show and prune the build cache"}
	c.PersistentFlags().StringVar(&dir, "cache", cache.DefaultRoot(), "cache folder ($BERTH_CACHE, $XDG_CACHE_HOME/berth or ~/.cache/berth)")

	du := &cobra.Command{
		Use:   "du",
		Short: "Show the disk space each part of the cache takes",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cc, err := cache.Open(dir)
			if err != nil {
				return err
			}
			parts, err := cc.Usage()
			if err != nil {
				return err
			}
			printUsage(stdout, cc.Root, parts)
			return nil
		},
	}

	var all, dryRun bool
	prune := &cobra.Command{
		Use:   "prune [--all] [--dry-run]",
		Short: "Remove cache entries no build uses",
		Long: fmt.Sprintf(`Remove the stage entries and downloads that none of the last %d successful
builds of the past %s used, and that nobody used in the last %s.
With --all, every entry and download no running build holds.

Never removed: what a running build holds, and the kernel work tree of
the pinned source (a config change rebuilds it incrementally). A
successful build prunes the same way, keeping what it used.`,
			cache.DefaultPolicy.Builds, days(cache.DefaultPolicy.MaxAge), cache.DefaultPolicy.Grace),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cc, err := cache.Open(dir)
			if err != nil {
				return err
			}
			pin, err := kernel.LoadPin("")
			if err != nil {
				return err
			}
			p := cache.DefaultPolicy
			if all {
				p = cache.Policy{}
			}
			p.Work = []string{kernel.WorkName(pin.Source.Version)}
			p.DryRun = dryRun
			r, err := cc.Prune(p)
			if r != nil {
				verb := "removed"
				if dryRun {
					verb = "would remove"
				}
				for _, x := range r.Removed {
					fmt.Fprintf(stdout, "%s %s (%s)\n", verb, x.Path, size(x.Bytes))
				}
				for _, b := range r.Busy {
					fmt.Fprintf(stdout, "kept %s: a running build uses it\n", b)
				}
				fmt.Fprintf(stdout, "%s %d entries, %s\n", verb, len(r.Removed), size(r.Freed()))
			}
			return err
		},
	}
	prune.Flags().BoolVar(&all, "all", false, "remove every entry and download no running build uses")
	prune.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be removed, remove nothing")
	c.AddCommand(du, prune)
	return c
}

func printUsage(w io.Writer, root string, parts []cache.Part) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "part\tentries\tsize\tlast used\t\n")
	var total int64
	for _, p := range parts {
		if p.Shared {
			fmt.Fprintf(tw, "%s\t\tshared\t\t\n", p.Name)
			continue
		}
		last := "-"
		if !p.LastUse.IsZero() {
			last = p.LastUse.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", p.Name, p.Entries, size(p.Bytes), last)
		total += p.Bytes
	}
	fmt.Fprintf(tw, "total (%s)\t\t%s\t\t\n", root, size(total))
	tw.Flush()
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
}

func days(d time.Duration) string { return fmt.Sprintf("%.0f days", d.Hours()/24) }
