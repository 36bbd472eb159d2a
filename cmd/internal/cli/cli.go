// Package cli is what berth and hostctl share on top of cobra: a command
// tree in which every mistake on the command line is a usage error
// (errkind.ErrUsage, exit 2), the exit statuses in the root's --help, and
// the commands both CLIs have, such as config validate.
package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
)

// Execute runs the command tree under root with args. Before it runs, the
// tree is made strict (see Strict) and the root's help gains the exit
// statuses.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) error {
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetHelpTemplate(root.HelpTemplate() + "{{if not .HasParent}}\n" + errkind.Help() + "{{end}}")
	// A group is runnable (Strict gives it an action) but its usage shows
	// only "path [command]", not "path [flags]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	Strict(root)
	return root.ExecuteContext(ctx)
}

// Strict makes every command line mistake under root an error of kind
// errkind.ErrUsage, where cobra would print help and succeed or fail with an
// unmarked error:
//   - a group (a command with subcommands and no action of its own) given
//     an unknown subcommand fails with `unknown command "x" for "path"` and
//     cobra's suggestions; run bare, it prints its help on stderr and fails;
//   - a command that declares no Args takes none;
//   - bad flags and the Args checks of every command are usage errors;
//   - `help x` of an unknown x fails like the unknown command itself.
//
// It adds cobra's help and completion commands first, so that they are
// strict too.
func Strict(root *cobra.Command) {
	root.SetHelpCommand(helpCmd())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return errkind.Mark(errkind.ErrUsage, err) })
	walk(root, func(c *cobra.Command) {
		switch {
		case c.HasSubCommands() && c.Run == nil && c.RunE == nil:
			c.Args = unknownCommand
			c.RunE = bareGroup
		case c.Args == nil:
			c.Args = cobra.NoArgs
		}
		c.Args = usageArgs(c.Args)
	})
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		return errkind.Mark(errkind.ErrUsage, check(c, args))
	}
}

// unknownCommand rejects any argument of a group: cobra has found no
// subcommand of that name.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets late
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errkind.Mark(errkind.ErrUsage, fmt.Errorf("%s", msg))
}

// bareGroup is the action of a group run without a subcommand: its help, on
// stderr, and a usage error, so that `hostctl service $verb` with an empty
// $verb fails.
func bareGroup(c *cobra.Command, _ []string) error {
	c.SetOut(c.ErrOrStderr())
	if err := c.Help(); err != nil {
		return fmt.Errorf("print help of %s: %w", c.CommandPath(), err)
	}
	return errkind.Mark(errkind.ErrUsage, fmt.Errorf("missing command for %q", c.CommandPath()))
}

// helpCmd is cobra's help command, except that an unknown topic is the
// same usage error as the unknown command.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return errkind.Mark(errkind.ErrUsage, err)
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest)
			}
			return target.Help()
		},
	}
}
