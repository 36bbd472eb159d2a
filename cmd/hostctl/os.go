package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-os/berth/init/api"
)

// osCmd is hostctl os: the running system, its root and its slots.
func osCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "os", Short: "Show how this host booted: its medium, root slot and verified root"}
	status := func(cmd *cobra.Command, _ []string) error {
		s, err := client().OSStatus(cmd.Context())
		if err != nil {
			return err
		}
		printOS(stdout, s)
		return nil
	}
	c.RunE = status
	c.Args = cobra.NoArgs
	c.AddCommand(&cobra.Command{Use: "status", Short: c.Short, Args: cobra.NoArgs, RunE: status})
	var tries int
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Try the other slot at the next boots; it is kept once healthy, else the boot disk goes back to this one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			msg, err := client().Rollback(cmd.Context(), api.RollbackRequest{Tries: tries})
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, msg)
			return nil
		},
	}
	rollback.Flags().IntVar(&tries, "tries", 3, "boots the other slot gets to become healthy (1 to 3)")
	c.AddCommand(rollback)
	return c
}

func printOS(w io.Writer, s api.OS) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	medium := s.Medium
	if s.Disk != "" {
		medium += " (" + s.Disk + ")"
	}
	fmt.Fprintf(tw, "version\t%s\nmedium\t%s\n", s.Version, medium)
	if s.BootPart != "" {
		fmt.Fprintf(tw, "boot partition\t%s\n", s.BootPart)
	}
	fmt.Fprintf(tw, "root\t%s (slot %s)\n", s.Root, s.Slot)
	if s.Verity != "" {
		fmt.Fprintf(tw, "verified\tyes: dm-verity, berth.verity=%s\n", s.Verity)
	} else {
		fmt.Fprintf(tw, "verified\tno: booted without berth.verity\n")
	}
	if b := s.Boot; b != nil {
		switch {
		case b.Error != "":
			fmt.Fprintf(tw, "boot chain\tunknown: %s\n", b.Error)
		default:
			fmt.Fprintf(tw, "good slot\t%s\n", b.Good)
		}
		if b.Trying != "" {
			fmt.Fprintf(tw, "trying\tslot %s (%d tries left)\n", b.Trying, b.TriesLeft)
		}
		if b.Rejected != "" {
			fmt.Fprintf(tw, "rejected\tslot %s: %s\n", b.Rejected, b.Why)
		}
	}
	for _, sl := range s.Slots {
		part := sl.Partition
		if part == "" {
			part = "-"
		}
		fmt.Fprintf(tw, "slot %s\t%s\t%s\n", sl.Name, part, sl.State)
	}
	tw.Flush()
}
