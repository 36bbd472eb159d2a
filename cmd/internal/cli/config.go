package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	cloudconfig "github.com/berth-os/berth/cloud-config"
	"github.com/berth-os/berth/internal/errkind"
	"github.com/spf13/cobra"
)

// ValidateCmd is `config validate -i FILE` of both CLIs: it checks
// user-data offline and prints every warning; an invalid file is an error
// of kind errkind.ErrInvalidConfig that lists every problem with its file,
// line and field path. --network-config FILE checks a cloud-init
// network-config file (version 1 or 2) the same way, alone or with -i.
func ValidateCmd() *cobra.Command {
	var input, netcfg string
	c := &cobra.Command{
		Use:   "validate -i FILE | --network-config FILE",
		Short: "Check user-data offline, or network-config (--network-config): every error and warning, with its line and field",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" && netcfg != "" {
				return validateNetworkConfig(cmd, netcfg)
			}
			doc, _, err := LoadUserData(cmd, input)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %d keys, %d scripts, %d warnings\n", input, len(doc.Keys()), len(doc.Scripts), len(doc.Warnings))
			if netcfg != "" {
				return validateNetworkConfig(cmd, netcfg)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "user-data file (- for standard input)")
	c.Flags().StringVar(&netcfg, "network-config", "", "cloud-init network-config file, version 1 or 2 (- for standard input)")
	return c
}

// validateNetworkConfig checks a network-config file and prints its
// warnings on stderr.
func validateNetworkConfig(cmd *cobra.Command, path string) error {
	data, err := ReadInput(cmd, path)
	if err != nil {
		return err
	}
	warnings, err := cloudconfig.ValidateNetworkConfig(path, data)
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %s\n", path, w)
	}
	if err != nil {
		return errkind.Mark(errkind.ErrInvalidConfig, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: valid network-config: %d warnings\n", path, len(warnings))
	return nil
}

// LoadUserData reads user-data from path (see ReadInput) and parses it,
// printing its warnings on the command's stderr. It returns the document
// and the bytes read.
func LoadUserData(cmd *cobra.Command, path string) (*cloudconfig.Document, []byte, error) {
	data, err := ReadInput(cmd, path)
	if err != nil {
		return nil, nil, err
	}
	// Parse's errors name the file, the line and the field path, and are
	// of kind errkind.ErrInvalidConfig (strictyaml's kind).
	doc, err := cloudconfig.Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range doc.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", w)
	}
	return doc, data, nil
}

// ReadInput reads the file given to -i: a path, or - for the command's
// standard input. An empty path is a usage error.
func ReadInput(cmd *cobra.Command, path string) ([]byte, error) {
	switch path {
	case "":
		return nil, errkind.Mark(errkind.ErrUsage, errors.New("-i: give a file (- for standard input)"))
	case "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return b, nil
	}
	// os.ReadFile's error names the path; a missing file is errkind.ErrNotFound.
	return os.ReadFile(path)
}
