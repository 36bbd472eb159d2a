package hostctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
)

func consoleCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "console",
		Short: "The login console: list, switch NAME, enable NAME",
		Long: `The console holds every login: sshd and a getty on each kernel console.
NAME is default (the built-in), a catalogue console (console-ubuntu), or
its short form (ubuntu). berth.console holds the choice.

  switch NAME   pull its image if needed, start it, then stop the old one
                and hand the logins over; if anything fails, the old one
                stays (or comes back) and nothing is stored. A session in
                the old console ends with it; the switch goes on.
  enable NAME   pull its image if needed and make it the console from the
                next boot (as hostctl service enable console-NAME).`,
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List consoles: NAME SERVICE IMAGE CHOSEN RUNNING PERSIST",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return errkind.Mark(errkind.ErrUsage, fmt.Errorf("-o: expected table or json, got %q", output))
			}
			l, err := client().Consoles(cmd.Context())
			if err != nil {
				return fmt.Errorf("list consoles: %w", err)
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			printConsoles(stdout, l)
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	verb := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use:   name + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				res, err := client().ConsoleVerb(cmd.Context(), name, args[0])
				if res.Pulled != "" {
					fmt.Fprintf(stdout, "pulled %s\n", res.Pulled)
				}
				if err != nil {
					return fmt.Errorf("console %s %s: %w", name, args[0], err)
				}
				switch {
				case name == "switch" && res.Switched:
					fmt.Fprintf(stdout, "console %s holds the logins now (%s), and from the next boot\n", res.Name, res.Service)
				case name == "switch":
					fmt.Fprintf(stdout, "console %s holds the logins already\n", res.Name)
				default:
					fmt.Fprintf(stdout, "console %s from the next boot (berth.console); hostctl console switch %s does it now\n", res.Name, res.Name)
				}
				return nil
			},
		}
	}
	c.AddCommand(list,
		verb("switch", "Make NAME the console now, and from the next boot"),
		verb("enable", "Make NAME the console from the next boot"))
	return c
}

func printConsoles(w io.Writer, l api.Consoles) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tIMAGE\tCHOSEN\tRUNNING\tPERSIST")
	yes := map[bool]string{true: "yes", false: "-"}
	for _, c := range l.Consoles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Service, c.Image, yes[c.Chosen], yes[c.Running], strings.Join(c.Persist, ","))
	}
	tw.Flush()
	if l.Reason != "" {
		fmt.Fprintf(w, "\n%s\n", l.Reason)
	}
}
