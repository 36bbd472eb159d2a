package main

import (
	"github.com/berth-os/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Host configuration (cloud-config)"}
	c.AddCommand(cli.ValidateCmd())
	return c
}
