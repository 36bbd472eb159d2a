// Command hostctl manages a Berth host from its console. It talks to PID 1
// over the root-only host API socket.
//
//	hostctl version
//	hostctl service list [-o table|json]
//	hostctl logs [-f] [-n LINES] SERVICE
//	hostctl config get|set|unset|merge|export|validate|status
//	hostctl reboot | poweroff
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/version"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errFailed) {
		os.Exit(1) // what failed is printed already
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var socket string
	client := func() *api.Client { return api.NewClient(socket) }
	root := &cobra.Command{
		Use:           "hostctl",
		Short:         "Manage this Berth host",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&socket, "socket", api.SocketPath, "host API socket")

	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Show the versions of hostctl and of the host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(stdout, "hostctl     %s\n", version.Berth)
			v, err := client().Version(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "berth       %s\nkernel      %s\ncontainerd  %s\nrunc        %s\n", v.Berth, v.Kernel, v.Containerd, v.Runc)
			return nil
		},
	})

	svc := &cobra.Command{Use: "service", Short: "System services"}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List system services: NAME STATE PID UPTIME RESTARTS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o: expected table or json, got %q", output)
			}
			s, err := client().Services(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printServices(stdout, s, time.Now())
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	svc.AddCommand(list)
	root.AddCommand(svc)

	var follow bool
	var tail int
	logs := &cobra.Command{
		Use:   "logs [-f] SERVICE",
		Short: "Show a service's output (stdout and stderr)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return client().Logs(cmd.Context(), args[0], tail, follow, stdout)
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	logs.Flags().IntVarP(&tail, "lines", "n", 0, "only the last N lines (0: all kept)")
	root.AddCommand(logs)

	root.AddCommand(configCmd(client, stdout, stderr))

	root.AddCommand(&cobra.Command{
		Use:   "reboot",
		Short: "Stop services cleanly and reboot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return client().Reboot(cmd.Context())
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "poweroff",
		Short: "Stop services cleanly and power off",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return client().Poweroff(cmd.Context())
		},
	})
	return root
}

func printServices(w io.Writer, svcs []api.Service, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tUPTIME\tRESTARTS")
	for _, s := range svcs {
		pid, up := "-", "-"
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		if d := s.Uptime(now); d > 0 {
			up = d.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Name, s.State, pid, up, s.Restarts)
	}
	tw.Flush()
}
