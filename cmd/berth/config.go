package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/spf13/cobra"
)

// errInvalidConfig makes berth exit non-zero after printing the problems.
var errInvalidConfig = errors.New("invalid configuration")

func configCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Host configuration (cloud-config)"}
	var input string
	validate := &cobra.Command{
		Use:   "validate -i FILE",
		Short: "Check user-data offline: every error and warning, with its line and field",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return fmt.Errorf("-i: give the user-data file to check (- for standard input)")
			}
			var data []byte
			var err error
			if input == "-" {
				data, err = io.ReadAll(os.Stdin)
			} else {
				data, err = os.ReadFile(input)
			}
			if err != nil {
				return err
			}
			doc, err := cloudconfig.Parse(input, data)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return errInvalidConfig
			}
			for _, w := range doc.Warnings {
				fmt.Fprintf(stderr, "warning: %v\n", w)
			}
			fmt.Fprintf(stdout, "%s: valid: %d keys, %d scripts, %d warnings\n", input, len(doc.Keys()), len(doc.Scripts), len(doc.Warnings))
			return nil
		},
	}
	validate.Flags().StringVarP(&input, "input", "i", "", "user-data file (- for standard input)")
	c.AddCommand(validate)
	return c
}
