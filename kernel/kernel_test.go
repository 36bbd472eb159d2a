package kernel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-os/berth/build/cache"
	"github.com/berth-os/berth/build/progress"

	"github.com/google/go-cmp/cmp"
)

func TestPinLoads(t *testing.T) {
	p, err := LoadPin("")
	if err != nil {
		t.Fatal(err)
	}
	if p.Source.Package != "linux-source-6.12" || !strings.Contains(p.Source.URL, p.Source.Version) {
		t.Errorf("pin = %+v", p)
	}
	if len(p.Source.SHA256) != 64 {
		t.Errorf("sha256 %q", p.Source.SHA256)
	}
}

func TestFormatPinRoundTrip(t *testing.T) {
	p, _ := LoadPin("")
	dir := t.TempDir()
	path := dir + "/pin.yaml"
	if err := writeFile(path, FormatPin(p.Source)); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPin(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// The pin is one line of YAML besides comments: a bump changes one line.
	lines := 0
	for _, l := range strings.Split(FormatPin(p.Source), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("pin has %d non-comment lines, want 1", lines)
	}
}

func TestPinErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"missing field", "source: {package: x, version: \"1\"}\n", "missing source.sha256, source.url"},
		{"unknown key", "source: {package: x, versoin: 1}\n", "source.versoin: unknown key (did you mean source.version?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dir + "/" + strings.ReplaceAll(tc.name, " ", "_")
			writeFile(p, tc.body)
			_, err := LoadPin(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// Every option Berth requires must be asked for by a fragment; otherwise
// the build only has it by defconfig's grace.
func TestFragmentsCoverRequired(t *testing.T) {
	if bad := Check(Wanted(), Required()); len(bad) > 0 {
		t.Errorf("required options the fragments do not set:\n%s", strings.Join(bad, "\n"))
	}
	if bad := Check(Wanted(), Hardening()); len(bad) > 0 {
		t.Errorf("hardening options the fragments do not set:\n%s", strings.Join(bad, "\n"))
	}
	if len(Hardening()) < 30 {
		t.Errorf("hardening.txt has %d options; it lost some", len(Hardening()))
	}
}

func TestFragmentsPinLSM(t *testing.T) {
	w := Wanted()
	if !strings.Contains(w["CONFIG_LSM"], "apparmor") {
		t.Errorf("CONFIG_LSM = %q, want it set explicitly with apparmor", w["CONFIG_LSM"])
	}
	if !strings.HasPrefix(w["CONFIG_LSM"], `"lockdown,`) {
		t.Errorf("CONFIG_LSM = %q, want lockdown first", w["CONFIG_LSM"])
	}
	// The build supplies the key at this path (signing.go): a generated one
	// would make every cold build differ.
	if w["CONFIG_MODULE_SIG_KEY"] != `"`+treeKeyPath+`"` {
		t.Errorf("CONFIG_MODULE_SIG_KEY = %s, want %q", w["CONFIG_MODULE_SIG_KEY"], treeKeyPath)
	}
}

func TestCheck(t *testing.T) {
	got := ParseConfig([]byte("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n"))
	want := Config{"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": "y", "CONFIG_D": "n"}
	bad := Check(got, want)
	wantBad := []string{"CONFIG_B: want y, got n", "CONFIG_C: want y, got m"}
	if diff := cmp.Diff(wantBad, bad); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestGonePinSaysHowToMoveIt(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := Source{Package: "linux-source-6.12", Version: "6.12.1-1", URL: srv.URL + "/pool/linux-source-6.12_6.12.1-1_all.deb",
		SHA256: strings.Repeat("ab", 32)}
	_, err = fetchSource(context.Background(), c, progress.Discard{}, src)
	if !errors.Is(err, cache.ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	for _, want := range []string{"6.12.1-1 is no longer in Debian's pool", "berth kernel pin --latest", "kernel/pin.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
