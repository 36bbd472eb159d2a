package hostctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/berth-os/berth/internal/timesync"
	"github.com/spf13/cobra"
)

// timeReport is what hostctl time shows: the time service's status and
// the kernel's view of the clock. Both are read directly, not through the
// host API: the service writes its status file, and anyone may ask the
// kernel.
type timeReport struct {
	// Synchronised: the service follows a server and the kernel counts the
	// clock as synchronised.
	Synchronised bool `json:"synchronised"`
	// Service is the ntp service's status; ServiceError why it is missing.
	Service      *timesync.Status `json:"service,omitempty"`
	ServiceError string           `json:"service_error,omitempty"`
	Kernel       *timesync.Kernel `json:"kernel,omitempty"`
	KernelError  string           `json:"kernel_error,omitempty"`
}

func timeCmd(stdout io.Writer, readKernel func() (timesync.Kernel, error)) *cobra.Command {
	var output, statusPath string
	show := func(cmd *cobra.Command, _ []string) error {
		if output != "table" && output != "json" {
			return errkind.Mark(errkind.ErrUsage, fmt.Errorf("-o: expected table or json, got %q", output))
		}
		r := readTime(statusPath, readKernel)
		if output == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		printTime(stdout, r, time.Now())
		return nil
	}
	c := &cobra.Command{
		Use:   "time [status]",
		Short: "Show whether the clock is synchronised: the time service's source and offset, and the kernel's view",
		Args:  cobra.NoArgs,
		RunE:  show,
	}
	c.PersistentFlags().StringVarP(&output, "output", "o", "table", "table or json")
	c.PersistentFlags().StringVar(&statusPath, "status-file", timesync.StatusPath, "the time service's status file")
	c.AddCommand(&cobra.Command{Use: "status", Short: c.Short, Args: cobra.NoArgs, RunE: show})
	return c
}

func readTime(statusPath string, readKernel func() (timesync.Kernel, error)) timeReport {
	var r timeReport
	if st, err := timesync.ReadStatus(statusPath); err != nil {
		r.ServiceError = err.Error()
	} else {
		r.Service = &st
	}
	if k, err := readKernel(); err != nil {
		r.KernelError = err.Error()
	} else {
		r.Kernel = &k
	}
	r.Synchronised = r.Service != nil && r.Service.Enabled && r.Service.Synchronised && r.Kernel != nil && r.Kernel.Synchronised
	return r
}

func printTime(w io.Writer, r timeReport, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, args...)) }
	ago := func(t time.Time) string { return max(now.Sub(t), 0).Round(time.Second).String() + " ago" }
	s := r.Service
	switch {
	case r.Synchronised:
		line("synchronised", "yes")
	case s != nil && !s.Enabled:
		line("synchronised", "no (ntp.enabled is false: the clock is left alone)")
	case s != nil && s.Synchronised:
		line("synchronised", "no (the time service follows %s, but the kernel counts the clock as unsynchronised)", s.Source)
	default:
		line("synchronised", "no")
	}
	switch {
	case s == nil:
		line("time service", "%s", r.ServiceError)
	case s.Enabled:
		if s.Source != "" {
			src := s.Source
			if s.Address != s.Source {
				src += " (" + s.Address + ")"
			}
			line("source", "%s, stratum %d", src, s.Stratum)
			line("offset", "%+.6fs, delay %.6fs, measured %s", float64(s.Offset), float64(s.Delay), ago(s.LastSync))
		} else {
			line("source", "none yet")
		}
		if !s.SteppedAt.IsZero() {
			line("stepped", "%+.6fs, %s", float64(s.Stepped), ago(s.SteppedAt))
		}
		if s.Leap != "" {
			line("leap second", "%s, announced", s.Leap)
		}
		line("servers", "%s", strings.Join(s.Sources, ", "))
		line("next poll", "in %s", max(s.Updated.Add(s.Poll.Duration()).Sub(now), 0).Round(time.Second))
		if s.Error != "" {
			line("error", "%s", strings.ReplaceAll(s.Error, "\n", "; "))
		}
	}
	if k := r.Kernel; k != nil {
		sync := "unsynchronised"
		if k.Synchronised {
			sync = "synchronised"
		}
		line("kernel", "%s (%s), maxerror %.6fs, esterror %.6fs", sync, k.State, float64(k.MaxError), float64(k.EstError))
		line("kernel pll", "offset %+.6fs, frequency %+.3f ppm, status %s", float64(k.Offset), k.Freq, strings.Join(k.Status, " "))
	} else {
		line("kernel", "%s", r.KernelError)
	}
	tw.Flush()
}
