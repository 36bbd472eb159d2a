// Command containerd is containerd and ctr in one program, chosen by the
// name it runs as: ctr when that name is ctr, containerd otherwise. The
// image keeps it once, as /usr/bin/containerd with /usr/bin/ctr a hard
// link to it: the two share almost all their code (the client, gRPC,
// protobuf), so one program is 34 MB where the two were 54, and the
// pages a console's ctr reads are those the containerds have in memory.
//
// Its plugins are containerd's own for Linux less those Berth turns off
// (plugins.go): 29 MB instead of 34, 4.5 MB less code and tables to map.
//
// The shim stays a program of its own: as part of this one it would run
// containerd's package initialisers at every container start and keep
// their 1.5 MB of heap in every shim (measured: 5.1 ms and 2.0 MB of
// init against 2.0 ms and 0.5 MB), and a host runs a shim per container.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/cmd/containerd/command"
	"github.com/containerd/containerd/v2/cmd/ctr/app"
)

func main() {
	ctx := context.Background()
	if filepath.Base(os.Args[0]) == "ctr" {
		if err := app.New().Run(ctx, os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "ctr:", err)
			os.Exit(1)
		}
		return
	}
	if err := command.App().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		os.Exit(1)
	}
}
