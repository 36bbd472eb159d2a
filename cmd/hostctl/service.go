package hostctl

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
)

func serviceCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	svc := &cobra.Command{
		Use:   "service",
		Short: "System services: list, status, start, stop, restart, enable, disable",
		Long: `System services. start and stop act now and change nothing at boot: a
stopped service stays stopped (its restart policy does not bring it back)
until start, restart or a reboot. enable and disable change which services
start at boot (berth.services in the local configuration layer, as
hostctl config set would); with --now they also start or stop it at once.
The console holds every login, so stop and disable refuse it without --force.`,
	}
	var output string
	checkOutput := func() error {
		if output != "table" && output != "json" {
			return errkind.Mark(errkind.ErrUsage, fmt.Errorf("-o: expected table or json, got %q", output))
		}
		return nil
	}
	printJSON := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List every service, running or not: NAME SOURCE ENABLED STATE HEALTH PID UPTIME RESTARTS NEXT IMAGE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			s, err := client().Services(cmd.Context())
			if err != nil {
				return fmt.Errorf("list services: %w", err)
			}
			if output == "json" {
				return printJSON(s)
			}
			printServices(stdout, s, time.Now())
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	status := &cobra.Command{
		Use:   "status SERVICE",
		Short: "A service's state, PID, restarts, last exit, next retry, and what enables it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			s, err := client().ServiceStatus(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("service status %s: %w", args[0], err)
			}
			if output == "json" {
				return printJSON(s)
			}
			printStatusOf(stdout, s, time.Now())
			return nil
		},
	}
	status.Flags().StringVarP(&output, "output", "o", "table", "table or json")

	restart := &cobra.Command{
		Use:   "restart SERVICE",
		Short: "Start a service again now, with its backoff reset (also one that keeps failing, or is stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().RestartService(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("restart service %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "%s: restarting\n", args[0])
			return nil
		},
	}

	var ctl api.ServiceControl
	verb := func(name, short string, flags ...string) *cobra.Command {
		c := &cobra.Command{
			Use:   name + " SERVICE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if name == "enable" && isDefinition(args[0]) {
					return enableDefinition(cmd, client(), stdout, args[0], ctl)
				}
				res, err := client().ServiceVerb(cmd.Context(), name, args[0], ctl)
				for _, w := range res.Warnings {
					fmt.Fprintf(stdout, "warning: %s\n", w)
				}
				if err != nil {
					return fmt.Errorf("%s service %s: %w", name, args[0], err)
				}
				printResult(stdout, name, res, ctl)
				return nil
			},
		}
		for _, f := range flags {
			switch f {
			case "now":
				c.Flags().BoolVar(&ctl.Now, "now", false, "also "+map[string]string{"enable": "start", "disable": "stop"}[name]+" it now")
			case "force":
				c.Flags().BoolVar(&ctl.Force, "force", false, "even the console, which holds every login")
			case "dry-run":
				c.Flags().BoolVar(&ctl.DryRun, "dry-run", false, "show the change; change nothing")
			}
		}
		return c
	}
	rm := &cobra.Command{
		Use:     "rm SERVICE",
		Aliases: []string{"remove"},
		Short:   "Delete a disabled user service's definition",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().RemoveService(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("remove service %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "%s: removed\n", args[0])
			return nil
		},
	}
	pull := &cobra.Command{
		Use:   "pull SERVICE",
		Short: "Pull a catalogue or user service's image again (restart it to run the new one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client()
			st, err := c.ServiceStatus(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("pull service %s: %w", args[0], err)
			}
			if st.Image == "" || st.Image == api.SourceBuiltin {
				return errkind.Mark(errkind.ErrInvalidConfig, fmt.Errorf("pull service %s: a built-in: its root filesystem is in the host's image, there is no image to pull", args[0]))
			}
			img, err := c.PullImage(cmd.Context(), st.Image, stdout)
			if err != nil {
				return fmt.Errorf("pull service %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "pulled %s %s for %s\n", img.Name, img.Digest, args[0])
			return nil
		},
	}
	logs := logsCmd(client, stdout, "Show a service's output (as hostctl logs)")
	svc.AddCommand(list, status, restart, rm, pull, logs,
		verb("start", "Start a service now (a stopped or disabled one too); boot is unchanged"),
		verb("stop", "Stop a service and keep it stopped until start or reboot; boot is unchanged", "force"),
		verb("enable", "Start a service at every boot (the local config layer); a FILE or URL of Compose services defines them first", "now", "dry-run"),
		verb("disable", "Start a service no more at boot (the local config layer)", "now", "force", "dry-run"),
	)
	return svc
}

// isDefinition tells a FILE or URL from a service's name, which has
// neither a slash nor a dot.
func isDefinition(arg string) bool {
	return strings.ContainsAny(arg, "/.")
}

// enableDefinition is hostctl service enable FILE|URL: hostctl reads a
// file and sends it; PID 1 fetches a URL.
func enableDefinition(cmd *cobra.Command, c *api.Client, stdout io.Writer, arg string, ctl api.ServiceControl) error {
	d := api.ServiceDefinition{Origin: arg, ServiceControl: ctl}
	if !strings.HasPrefix(arg, "http://") && !strings.HasPrefix(arg, "https://") {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return fmt.Errorf("enable %s: %w", arg, err)
		}
		f, err := os.Open(abs)
		if err != nil {
			return fmt.Errorf("enable %s: %w", arg, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, api.MaxDefinitionSize+1))
		if err != nil {
			return fmt.Errorf("enable %s: %w", arg, err)
		}
		if len(b) > api.MaxDefinitionSize {
			return errkind.Mark(errkind.ErrUsage, fmt.Errorf("enable %s: larger than %d bytes (a Compose document of services is expected)", arg, api.MaxDefinitionSize))
		}
		d.Origin, d.Data = abs, b
	}
	res, err := c.DefineServices(cmd.Context(), d)
	if err != nil {
		return fmt.Errorf("enable %s: %w", arg, err)
	}
	for _, r := range res.Services {
		for _, w := range r.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		printResult(stdout, "enable", r, ctl)
		if !r.Started && !ctl.DryRun {
			fmt.Fprintf(stdout, "%s: enabled (from %s)\n", r.Name, d.Origin)
		}
		if ctl.DryRun {
			fmt.Fprintf(stdout, "%s: would be enabled (from %s)\n", r.Name, d.Origin)
		}
	}
	return nil
}

// printResult says what a verb did.
func printResult(w io.Writer, verb string, res api.ServiceResult, ctl api.ServiceControl) {
	if res.Config != nil {
		printChanges(w, *res.Config)
		if len(res.Config.Changes) == 0 && !ctl.DryRun {
			fmt.Fprintf(w, "%s: already %sd at boot\n", res.Name, verb)
		}
	}
	switch {
	case res.Started:
		fmt.Fprintf(w, "%s: started (%s)\n", res.Name, res.State)
	case res.Stopped:
		fmt.Fprintf(w, "%s: stopped\n", res.Name)
	case verb == "start":
		fmt.Fprintf(w, "%s: already %s\n", res.Name, res.State)
	case verb == "stop" && ctl.DryRun:
		fmt.Fprintf(w, "%s: would stop\n", res.Name)
	case verb == "stop":
		fmt.Fprintf(w, "%s: not running\n", res.Name)
	}
}

func printServices(w io.Writer, svcs []api.Service, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tENABLED\tSTATE\tHEALTH\tPID\tUPTIME\tRESTARTS\tNEXT\tIMAGE")
	for _, s := range svcs {
		pid, up, next := "-", "-", "-"
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		if d := s.Uptime(now); d > 0 {
			up = d.Round(time.Second).String()
		}
		if s.NextRetry != nil {
			next = "in " + max(s.NextRetry.Sub(now), 0).Round(time.Second).String()
		}
		src := dash(s.Source)
		if s.Origin != "" {
			src += ":" + s.Origin
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, src, yesNo(s.Enabled), s.State, dash(s.Health), pid, up, s.Restarts, next, dash(s.Image))
	}
	tw.Flush()
}

// printStatusOf is hostctl service status's table.
func printStatusOf(w io.Writer, s api.ServiceStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", s.Name)
	state := s.State
	if s.Held {
		state += " (by hand: until hostctl service start or a reboot)"
	}
	row("state", state)
	health := dash(s.Health)
	if s.HealthError != "" {
		health += " (last check: " + strings.TrimSpace(s.HealthError) + ")"
	}
	row("health", health)
	if s.WaitingOn != "" {
		row("waiting on", s.WaitingOn)
	}
	pid := "-"
	if s.PID > 0 {
		pid = fmt.Sprint(s.PID)
	}
	row("pid", pid)
	since := "-"
	if s.Started != nil {
		since = s.Started.UTC().Format(time.RFC3339) + " (" + now.Sub(*s.Started).Round(time.Second).String() + " ago)"
	}
	row("since", since)
	row("restarts", fmt.Sprint(s.Restarts))
	last := "-"
	switch {
	case s.LastError != "" && s.LastExitAt != nil:
		last = s.LastError + " at " + s.LastExitAt.UTC().Format(time.RFC3339)
	case s.LastExit != nil && s.LastExitAt != nil:
		last = fmt.Sprintf("status %d at %s", *s.LastExit, s.LastExitAt.UTC().Format(time.RFC3339))
	}
	row("last exit", last)
	next := "-"
	if s.NextRetry != nil {
		next = s.NextRetry.UTC().Format(time.RFC3339) + " (in " + max(s.NextRetry.Sub(now), 0).Round(time.Second).String() + ")"
	}
	row("next retry", next)
	row("enabled", yesNo(s.Enabled)+", by "+dash(s.EnabledBy))
	src := dash(s.Source)
	if s.Origin != "" {
		src += " (" + s.Origin + ")"
	}
	row("source", src)
	row("image", dash(s.Image))
	if s.Error != "" {
		row("error", strings.TrimSpace(s.Error))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
