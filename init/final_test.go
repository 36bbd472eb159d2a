package main

import (
	"context"
	"errors"
	"testing"

	cloudconfig "github.com/berth-os/berth/cloud-config"
)

// power_state's condition: a boolean, or a command whose exit status 0
// lets the power change go ahead.
func TestPowerCondition(t *testing.T) {
	f, tr := false, true
	var ran []string
	run := func(_ context.Context, c cloudconfig.Command) error {
		ran = append(ran, c.String())
		if c.Shell == "false" {
			return errors.New("exit status 1")
		}
		return nil
	}
	for _, tc := range []struct {
		name string
		c    *cloudconfig.Condition
		ok   bool
		err  string
	}{
		{"none", nil, true, ""},
		{"true", &cloudconfig.Condition{Bool: &tr}, true, ""},
		{"false", &cloudconfig.Condition{Bool: &f}, false, "false"},
		{"command that succeeds", &cloudconfig.Condition{Command: &cloudconfig.Command{Argv: []string{"test", "-e", "/x"}}}, true, ""},
		{"command that fails", &cloudconfig.Condition{Command: &cloudconfig.Command{Shell: "false"}}, false, "false: exit status 1"},
	} {
		ok, err := powerCondition(context.Background(), tc.c, run)
		if ok != tc.ok || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s: %v, %v; want %v, %q", tc.name, ok, err, tc.ok, tc.err)
		}
	}
	if len(ran) != 2 || ran[0] != `"test" "-e" "/x"` {
		t.Errorf("commands run: %q", ran)
	}
}
