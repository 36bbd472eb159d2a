package datasource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sum(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// seedServer serves files by path and records what was asked.
func seedServer(t *testing.T, files map[string]string) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.String())
		mu.Unlock()
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

const (
	pinUD = "#cloud-config\nhostname: pinned\n"
	pinMD = "instance-id: iid-pin\nlocal-hostname: pin\npublic-keys: [" + key + "]\n"
)

// Plain http warns unless pinned, https never does; a pinned body that
// does not match is refused with both digests; the fragment is not sent.
func TestURLPins(t *testing.T) {
	base, asked := seedServer(t, map[string]string{"/ud": pinUD, "/seed/user-data": pinUD, "/seed/meta-data": pinMD})
	wrong := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		src     URL
		warning string // a part of it; "" for none
		err     string // a part of Fetch's error; "" for none
		want    *Data
	}{
		{name: "plain http, no pin", src: URL{SourceName: "url", Location: base + "/ud"},
			warning: base + "/ud: plain http and no sha256 pin: anyone on the network path can change this user-data, and so run code as root; use https, or pin it: " + base + "/ud#sha256=<sha256 of the user-data>",
			want:    &Data{UserData: []byte(pinUD)}},
		{name: "plain http, pinned", src: URL{SourceName: "url", Location: base + "/ud#sha256=" + sum(pinUD)},
			want: &Data{UserData: []byte(pinUD)}},
		{name: "pinned in capitals", src: URL{SourceName: "url", Location: base + "/ud#sha256=" + strings.ToUpper(sum(pinUD))},
			want: &Data{UserData: []byte(pinUD)}},
		{name: "pin that does not match", src: URL{SourceName: "url", Location: base + "/ud#sha256=" + wrong},
			err: base + "/ud: refused: not the pinned sha256: its sha256 is " + sum(pinUD) + ", the URL pins " + wrong},
		{name: "seed, no pin", src: URL{SourceName: "nocloud-net", Seed: true, Location: base + "/seed/"},
			warning: base + "/seed/: plain http and no sha256 pin",
			want:    &Data{UserData: []byte(pinUD), InstanceID: "iid-pin", Hostname: "pin", PublicKeys: []string{key}}},
		{name: "seed, user-data pinned: meta-data is not read", src: URL{SourceName: "nocloud-net", Seed: true, Location: base + "/seed/#sha256=" + sum(pinUD)},
			warning: base + "/seed/: meta-data not read: plain http, and the URL pins only the user-data (add &meta-sha256=<sha256 of the meta-data> to use it)",
			want:    &Data{UserData: []byte(pinUD)}},
		{name: "seed, both pinned", src: URL{SourceName: "nocloud-net", Seed: true, Location: base + "/seed/#sha256=" + sum(pinUD) + "&meta-sha256=" + sum(pinMD)},
			want: &Data{UserData: []byte(pinUD), InstanceID: "iid-pin", Hostname: "pin", PublicKeys: []string{key}}},
		{name: "seed, meta-data does not match", src: URL{SourceName: "nocloud-net", Seed: true, Location: base + "/seed/#sha256=" + sum(pinUD) + "&meta-sha256=" + wrong},
			err: base + "/seed/meta-data: refused: not the pinned sha256: its sha256 is " + sum(pinMD) + ", the URL pins " + wrong},
		{name: "seed, user-data does not match", src: URL{SourceName: "nocloud-net", Seed: true, Location: base + "/seed/#sha256=" + wrong},
			warning: "meta-data not read",
			err:     base + "/seed/user-data: refused: not the pinned sha256: its sha256 is " + sum(pinUD)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.src.Warning()
			if (tc.warning == "") != (w == "") || !strings.Contains(w, tc.warning) {
				t.Errorf("warning %q, want %q", w, tc.warning)
			}
			d, err := tc.src.Fetch(context.Background())
			if tc.err != "" {
				if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), tc.err) || Absent(err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, d); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	for _, p := range asked() {
		if strings.Contains(p, "sha256") {
			t.Errorf("the pin went to the server: %s", p)
		}
	}
	if n := strings.Count(strings.Join(asked(), " "), "/seed/meta-data"); n != 3 {
		t.Errorf("meta-data asked %d times, want 3 (no pin, both pinned, meta-data mismatch): %q", n, asked())
	}
	if w := (&URL{SourceName: "url", Location: "https://example.org/ud"}).Warning(); w != "" {
		t.Errorf("https warns: %s", w)
	}
}

func TestParseLocation(t *testing.T) {
	good := sum("x")
	for raw, want := range map[string]string{
		"http://h/ud#sha256=" + good:                              "",
		"https://h/seed/#sha256=" + good + "&meta-sha256=" + good: "",
		"http://h/ud#sha256=xyz":                                  `http://h/ud: sha256="xyz": expected 64 hex digits (a sha256)`,
		"http://h/ud#sha256=" + good[:60]:                         "expected 64 hex digits",
		"http://h/ud#md5=abc":                                     `http://h/ud: fragment "md5=abc": expected #sha256=<64 hex digits> (and &meta-sha256=<64 hex digits> for a seed)`,
		"http://h/ud#top":                                         `fragment "top": expected #sha256=`,
		"http://h/seed/#meta-sha256=" + good:                      "meta-sha256 needs sha256 too",
		"ftp://h/ud":                                              `expected an http:// or https:// URL, got "ftp://h/ud"`,
	} {
		_, _, err := ParseLocation(raw)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseLocation(%q) = %v, want %q", raw, err, want)
		}
	}
	loc, pins, err := ParseLocation("http://h/seed/#sha256=" + strings.ToUpper(good) + "&meta-sha256=" + good)
	if err != nil || loc != "http://h/seed/" || pins != (Pins{UserData: good, MetaData: good}) {
		t.Errorf("%q %+v %v", loc, pins, err)
	}
}

// A command line URL whose pin is malformed is left out, never fetched
// unpinned; the warnings name each unpinned plain http source.
func TestSelectPinnedURLs(t *testing.T) {
	local, network, problems := Selection{URL: "http://h/ud#sha256=nothex", NoCloudSeed: "nocloud;s=http://h/seed/"}.Select()
	if got := names(network); len(got) != 1 || got[0] != "nocloud-net" {
		t.Errorf("network sources %v", got)
	}
	if len(problems) != 1 || !strings.HasPrefix(problems[0], `berth.cloud_config_url: http://h/ud: sha256="nothex": expected 64 hex digits (a sha256); not used`) {
		t.Errorf("problems %q", problems)
	}
	want := []string{"datasource nocloud-net: http://h/seed/: plain http and no sha256 pin: anyone on the network path can change this user-data, and so run code as root; use https, or pin it: http://h/seed/#sha256=<sha256 of the user-data>"}
	if diff := cmp.Diff(want, Warnings(append(local, network...)...)); diff != "" {
		t.Errorf("warnings (-want +got)\n%s", diff)
	}
	_, network, _ = Selection{URL: "https://h/ud", NoCloudSeed: "nocloud;s=http://h/seed/#sha256=" + sum("x") + "&meta-sha256=" + sum("y")}.Select()
	if w := Warnings(network...); len(w) != 0 || len(network) != 2 {
		t.Errorf("https and a pinned seed: warnings %q (%v)", w, names(network))
	}
}
