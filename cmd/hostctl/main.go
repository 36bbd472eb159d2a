// Package hostctl is hostctl, which manages a Berth host from its console. It talks to PID 1
// over the root-only host API socket.
//
//	hostctl version
//	hostctl service list [-o table|json]
//	hostctl service status SERVICE [-o table|json]
//	hostctl service start|stop|restart SERVICE
//	hostctl service enable|disable SERVICE [--now] [--force] [--dry-run]
//	hostctl logs [-f] [-n LINES] SERVICE
//	hostctl config get|set|unset|merge|export|validate|status
//	hostctl time [status] [-o table|json]
//	hostctl image pull REF | import FILE | list [-o table|json]
//	hostctl console list [-o table|json] | switch NAME | enable NAME
//	hostctl reboot | poweroff
//
// Its exit status says what kind of error stopped it (errkind.Help); the
// host API carries the kind of PID 1's errors.
package hostctl

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/berth-os/berth/cmd/internal/cli"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/timesync"
	"github.com/berth-os/berth/internal/version"
	"github.com/spf13/cobra"
)

// Main runs the program with the process's arguments; it exits the
// process on an error. cmd/berthbox runs it by the name it runs as.
func Main() { errkind.Main("hostctl", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Execute(ctx, newRoot(stdout), args, stdout, stderr)
}

func newRoot(stdout io.Writer) *cobra.Command {
	var socket string
	client := func() *api.Client { return api.NewClient(socket) }
	root := &cobra.Command{Use: "hostctl", Short: "Manage this Berth host"}
	root.PersistentFlags().StringVar(&socket, "socket", api.SocketPath, "host API socket")

	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Show the versions of hostctl and of the host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(stdout, "hostctl     %s\n", version.Berth)
			v, err := client().Version(cmd.Context())
			if err != nil {
				return fmt.Errorf("host version: %w", err)
			}
			fmt.Fprintf(stdout, "berth       %s\nkernel      %s\ncontainerd  %s\nrunc        %s\ncrun        %s (system services)\n", v.Berth, v.Kernel, v.Containerd, v.Runc, v.Crun)
			return nil
		},
	})

	root.AddCommand(serviceCmd(client, stdout))

	root.AddCommand(logsCmd(client, stdout, "Show a service's output (stdout and stderr)"))

	root.AddCommand(configCmd(client, stdout))
	root.AddCommand(timeCmd(stdout, timesync.ReadKernel))
	root.AddCommand(imageCmd(client, stdout))
	root.AddCommand(consoleCmd(client, stdout))
	root.AddCommand(osCmd(client, stdout))
	root.AddCommand(installCmd(client, stdout))

	root.AddCommand(&cobra.Command{
		Use:   "reboot",
		Short: "Stop services cleanly and reboot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := client().Reboot(cmd.Context()); err != nil {
				return fmt.Errorf("reboot: %w", err)
			}
			return nil
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "poweroff",
		Short: "Stop services cleanly and power off",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := client().Poweroff(cmd.Context()); err != nil {
				return fmt.Errorf("poweroff: %w", err)
			}
			return nil
		},
	})
	return root
}

// parseSince reads --since: a duration back from now, or a time (RFC 3339,
// or without its zone, in UTC).
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since: expected a duration back from now (10m) or a time, got %q", v)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since: expected a duration (10m, 1h30m) or a time (2006-01-02T15:04:05Z), got %q", v)
}

// logsCmd is hostctl logs, and hostctl service logs with its own short
// help.
func logsCmd(client func() *api.Client, stdout io.Writer, short string) *cobra.Command {
	var follow bool
	var lines int
	var since string
	logs := &cobra.Command{
		Use:   "logs [-f] [-n LINES] [--since DURATION|TIME] SERVICE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var from time.Time
			if since != "" {
				var err error
				if from, err = parseSince(since, time.Now()); err != nil {
					return errkind.Mark(errkind.ErrUsage, err)
				}
			}
			// The host's errors name the service; the client's, the socket.
			return client().LogsSince(cmd.Context(), args[0], lines, follow, from, stdout)
		},
	}
	logs.Flags().StringVar(&since, "since", "", "only lines from this long ago (10m, 1h30m) or since this time (RFC 3339, or 2006-01-02T15:04:05 in UTC)")
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	logs.Flags().IntVarP(&lines, "lines", "n", 0, "only the last N lines (0: all kept)")
	return logs
}
