package hosttool

import (
	"errors"
	"strings"
	"testing"
)

func TestNeed(t *testing.T) {
	got, err := Need("sh")
	if err != nil || got["sh"] == "" {
		t.Fatalf("sh: %v %v", got, err)
	}
	Packages["berth-no-such-tool"] = "berth-pkg"
	defer delete(Packages, "berth-no-such-tool")
	_, err = Need("sh", "berth-no-such-tool")
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"berth-no-such-tool", "apt-get install berth-pkg", "make deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
