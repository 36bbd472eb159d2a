// Command berth is the workstation CLI: it builds Berth images from a spec
// and runs them in QEMU.
//
//	berth build [SPEC] [-o DIR]      build an image (default images/berth.yaml)
//	berth run [--format iso|raw|qcow2] [DIR]
//	berth kernel pin [--latest | --version V]
//	berth debs lock
//	berth config validate -i FILE
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errInvalidConfig) {
		os.Exit(1) // the problems are printed already
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Build and run Berth images",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(buildCmd(stdout, stderr), runCmd(stdout, stderr), kernelCmd(stdout), debsCmd(stdout), configCmd(stdout, stderr))
	return root.ExecuteContext(ctx)
}
