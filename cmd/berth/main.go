// Command berth is the workstation CLI: it builds Berth images from a spec
// and runs them in QEMU.
//
//	berth build [SPEC] [-o DIR]      build an image (default images/berth.yaml)
//	berth run [--format iso|raw|qcow2] [DIR]
//	berth kernel pin [--latest | --version V]
//	berth kernel check-incremental
//	berth debs lock
//	berth push FILE|NAME REF [--insecure]
//	berth cache du | prune [--all] [--dry-run]
//	berth config validate -i FILE
//
// Its exit status says what kind of error stopped it (errkind.Help).
package main

import (
	"context"
	"io"

	"github.com/berth-os/berth/cmd/internal/cli"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
)

func main() { errkind.Main("berth", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{Use: "berth", Short: "Build and run Berth images"}
	root.AddCommand(buildCmd(stdout, stderr), runCmd(stdout, stderr), kernelCmd(stdout, stderr), debsCmd(stdout), configCmd(), cacheCmd(stdout), pushCmd(stdout))
	return cli.Execute(ctx, root, args, stdout, stderr)
}
