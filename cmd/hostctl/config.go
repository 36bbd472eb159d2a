package hostctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/cmd/internal/cli"
	"github.com/berth-os/berth/init/api"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func configCmd(client func() *api.Client, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Host configuration: layers image → datasource → local → kernel command line",
		Long: `Host configuration (cloud-config). KEY is a dotted path; a map key that
itself holds dots is written in double quotes (and the whole KEY in single
quotes, for the shell), and list entries by index. Where the schema leaves
one reading, the quotes may go: sysctl names, VLAN links (eth0.100).

  hostctl config get berth.network.dns.nameservers
  hostctl config set 'berth.sysctl."net.ipv4.ip_forward"' 1
  hostctl config set berth.sysctl.net.ipv4.ip_forward 1      # the same
  hostctl config get 'users[0].name'

VALUE is YAML: 8080 is a number, true a boolean, [a, b] a list, {k: v} a map.
Writes go to the local layer; every write is validated first and --dry-run
shows each changed key and whether it applies live, restarts a service or
needs a reboot.`,
	}
	var source bool
	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value in the merged configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := client().ConfigValue(cmd.Context(), args[0])
			if err != nil {
				return err // the host's errors name the key; the client's, the socket
			}
			out, err := renderValue(v.Value)
			if err != nil {
				return fmt.Errorf("print %s: %w", v.Key, err)
			}
			if source {
				fmt.Fprintf(stdout, "%s (from %s)\n", strings.TrimRight(out, "\n"), v.Source)
				return nil
			}
			fmt.Fprint(stdout, out)
			return nil
		},
	}
	get.Flags().BoolVar(&source, "source", false, "also say which layer the value came from")

	var dryRun bool
	change := func(req api.ConfigChangeRequest, cmd *cobra.Command) error {
		req.DryRun = dryRun
		res, err := client().ConfigChange(cmd.Context(), req)
		if err != nil {
			return err // the host's errors name the key or the file; the client's, the socket
		}
		printChanges(stdout, res)
		if len(res.Errors) > 0 {
			return fmt.Errorf("the change is written, but applying it failed:\n%s", strings.Join(res.Errors, "\n"))
		}
		return nil
	}
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a key in the local layer",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return change(api.ConfigChangeRequest{Op: "set", Key: args[0], Value: args[1]}, cmd)
		},
	}
	unset := &cobra.Command{
		Use:   "unset KEY",
		Short: "Remove a key from the local layer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return change(api.ConfigChangeRequest{Op: "unset", Key: args[0]}, cmd)
		},
	}
	var input string
	merge := &cobra.Command{
		Use:   "merge -i FILE",
		Short: "Merge a cloud-config document into the local layer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := cli.ReadInput(cmd, input)
			if err != nil {
				return err
			}
			return change(api.ConfigChangeRequest{Op: "merge", YAML: string(data)}, cmd)
		},
	}
	merge.Flags().StringVarP(&input, "input", "i", "", "file to merge (- for standard input)")
	for _, w := range []*cobra.Command{set, unset, merge} {
		w.Flags().BoolVar(&dryRun, "dry-run", false, "show the change and its effect; write nothing")
	}

	var output string
	var merged bool
	export := &cobra.Command{
		Use:   "export [-o yaml|json] [--merged]",
		Short: "Print the local layer, or the merged configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return errkind.Mark(errkind.ErrUsage, fmt.Errorf("-o: expected yaml or json, got %q", output))
			}
			t, err := client().ConfigTree(cmd.Context(), merged)
			if err != nil {
				return fmt.Errorf("export config: %w", err)
			}
			switch output {
			case "yaml":
				b, err := yaml.Marshal(t)
				if err != nil {
					return fmt.Errorf("export config as YAML: %w", err)
				}
				fmt.Fprint(stdout, "#cloud-config\n"+string(b))
			case "json":
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(t)
			}
			return nil
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "yaml", "yaml or json")
	export.Flags().BoolVar(&merged, "merged", false, "all layers merged, not only the local one")

	status := &cobra.Command{
		Use:   "status",
		Short: "The sources read at boot, their errors and warnings, and keys stored but not applied; exits 1 on errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := client().ConfigStatus(cmd.Context())
			if err != nil {
				return fmt.Errorf("config status: %w", err)
			}
			printStatus(stdout, st)
			if st.HasErrors() {
				return errors.New("the host's configuration has errors (listed above)")
			}
			return nil
		},
	}
	c.AddCommand(get, set, unset, merge, export, cli.ValidateCmd(), status)
	return c
}

func renderValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x + "\n", nil
	case nil:
		return "\n", nil
	}
	b, err := yaml.Marshal(v)
	return string(b), err
}

func short(v any) string {
	if v == nil {
		return "(unset)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func printChanges(w io.Writer, res api.ConfigChangeResult) {
	if len(res.Changes) == 0 {
		fmt.Fprintln(w, "no change")
		return
	}
	verb := "changed"
	if res.DryRun {
		verb = "would change"
	}
	for _, c := range res.Changes {
		fmt.Fprintf(w, "%s %s: %s → %s (%s)\n", verb, c.Key, short(c.Before), short(c.After), c.Effect)
	}
	if len(res.Restarted) > 0 {
		fmt.Fprintf(w, "restarted: %s\n", strings.Join(res.Restarted, " "))
	}
	if len(res.Reboot) > 0 && !res.DryRun {
		fmt.Fprintf(w, "takes effect at the next boot: %s\n", strings.Join(res.Reboot, " "))
	}
	if len(res.Stored) > 0 && !res.DryRun {
		fmt.Fprintf(w, "stored, not applied yet: %s\n", strings.Join(res.Stored, " "))
	}
}

func printStatus(w io.Writer, st cloudconfig.Status) {
	for _, x := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	for _, s := range st.Sources {
		used := "not used"
		if s.Used {
			used = "used"
		}
		line := fmt.Sprintf("%-10s %-35s %s", s.Layer, s.Name, used)
		if s.Note != "" {
			line += ": " + s.Note
		}
		fmt.Fprintln(w, line)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
		for _, x := range s.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", x)
		}
	}
	for _, k := range st.Stored {
		fmt.Fprintf(w, "stored, not applied yet: %s\n", k)
	}
	for _, e := range st.ApplyErrors {
		fmt.Fprintf(w, "apply error: %s\n", e)
	}
}
