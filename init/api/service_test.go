package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/berth-os/berth/internal/errkind"
	"github.com/google/go-cmp/cmp"
)

// serviceHost records the verbs it is asked for.
type serviceHost struct {
	fakeHost
	heard []string
}

func (s *serviceHost) ServiceStatus(name string) (ServiceStatus, error) {
	if name != "udev" {
		return ServiceStatus{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", name))
	}
	code := 1
	return ServiceStatus{Service: Service{Name: name, State: StateBackoff, Enabled: true, EnabledBy: "image default"}, LastExit: &code}, nil
}

func (s *serviceHost) do(verb, name string, c ServiceControl) (ServiceResult, error) {
	s.heard = append(s.heard, fmt.Sprintf("%s %s %+v", verb, name, c))
	switch name {
	case "nosuch":
		return ServiceResult{}, errkind.Mark(errkind.ErrNotFound, fmt.Errorf("no service %q", name))
	case "console":
		return ServiceResult{}, errkind.Mark(errkind.ErrInvalidConfig, errors.New("refused"))
	}
	return ServiceResult{Name: name, State: StateRunning, Started: verb == "start", Warnings: []string{"w"}}, nil
}

func (s *serviceHost) StartService(_ context.Context, name string) (ServiceResult, error) {
	return s.do("start", name, ServiceControl{})
}
func (s *serviceHost) StopService(_ context.Context, name string, c ServiceControl) (ServiceResult, error) {
	return s.do("stop", name, c)
}
func (s *serviceHost) EnableService(_ context.Context, name string, enable bool, c ServiceControl) (ServiceResult, error) {
	return s.do(map[bool]string{true: "enable", false: "disable"}[enable], name, c)
}

// Each service verb reaches its handler with its name and flags; the
// host's errors come back with their kinds.
func TestServiceRoutes(t *testing.T) {
	h := &serviceHost{}
	c := serve(t, h)
	ctx := context.Background()
	st, err := c.ServiceStatus(ctx, "udev")
	if err != nil || st.State != StateBackoff || st.LastExit == nil || *st.LastExit != 1 || st.EnabledBy != "image default" {
		t.Errorf("status: %+v %v", st, err)
	}
	if _, err := c.ServiceStatus(ctx, "nosuch"); !errors.Is(err, errkind.ErrNotFound) || err.Error() != `no service "nosuch"` {
		t.Errorf("status of an unknown service: %v", err)
	}
	for _, v := range []struct {
		verb string
		ctl  ServiceControl
	}{
		{"start", ServiceControl{}},
		{"stop", ServiceControl{Force: true}},
		{"enable", ServiceControl{Now: true}},
		{"disable", ServiceControl{Now: true, Force: true, DryRun: true}},
	} {
		res, err := c.ServiceVerb(ctx, v.verb, "udev", v.ctl)
		if err != nil || res.Name != "udev" || res.State != StateRunning || res.Started != (v.verb == "start") || len(res.Warnings) != 1 {
			t.Errorf("%s: %+v %v", v.verb, res, err)
		}
	}
	want := []string{"start udev {Now:false Force:false DryRun:false}", "stop udev {Now:false Force:true DryRun:false}",
		"enable udev {Now:true Force:false DryRun:false}", "disable udev {Now:true Force:true DryRun:true}"}
	if diff := cmp.Diff(want, h.heard); diff != "" {
		t.Errorf("heard (-want +got)\n%s", diff)
	}
	if _, err := c.ServiceVerb(ctx, "enable", "nosuch", ServiceControl{}); !errors.Is(err, errkind.ErrNotFound) || err.Error() != `no service "nosuch"` {
		t.Errorf("enable of an unknown service: %v", err)
	}
	if _, err := c.ServiceVerb(ctx, "stop", "console", ServiceControl{}); !errors.Is(err, errkind.ErrInvalidConfig) || err.Error() != "refused" {
		t.Errorf("a refusal: %v, want invalid config", err)
	}
	if _, err := c.ServiceVerb(ctx, "frob", "udev", ServiceControl{}); !errors.Is(err, errkind.ErrNotFound) {
		t.Errorf("an unknown verb: %v, want not found (no such route)", err)
	}
}
