package datasource

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl k"

// imds serves EC2 metadata; v2 requires the token when tokens are on.
func imds(t *testing.T, v2 bool, userData string) *httptest.Server {
	const token = "tok-123"
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			if !v2 || r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			w.Write([]byte(token))
			return
		}
		if v2 && r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/instance-id":
			w.Write([]byte("i-0abc"))
		case "/latest/meta-data/local-hostname":
			w.Write([]byte("ip-10-0-0-5"))
		case "/latest/meta-data/public-keys/0/openssh-key":
			w.Write([]byte(key + "\n"))
		case "/latest/user-data":
			if userData == "" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(userData))
		default:
			http.NotFound(w, r)
		}
	}))
}

func TestEC2(t *testing.T) {
	for _, v2 := range []bool{true, false} {
		srv := imds(t, v2, "#cloud-config\nhostname: ec2\n")
		d, err := (&EC2{URL: srv.URL}).Fetch(context.Background())
		srv.Close()
		if err != nil {
			t.Fatalf("v2=%v: %v", v2, err)
		}
		want := &Data{InstanceID: "i-0abc", Hostname: "ip-10-0-0-5", PublicKeys: []string{key}, UserData: []byte("#cloud-config\nhostname: ec2\n")}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("v2=%v (-want +got)\n%s", v2, diff)
		}
	}
	srv := imds(t, true, "")
	d, err := (&EC2{URL: srv.URL}).Fetch(context.Background())
	srv.Close()
	if err != nil || d.UserData != nil {
		t.Errorf("no user-data: %v %q", err, d.UserData)
	}
}

func TestOpenStackAndGCE(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/openstack/latest/meta_data.json":
			w.Write([]byte(`{"uuid":"u-1","hostname":"os1","public_keys":{"mykey":"` + key + `"}}`))
		case "/openstack/latest/user_data":
			w.Write([]byte("#cloud-config\nhostname: os\n"))
		case "/computeMetadata/v1/instance/id", "/computeMetadata/v1/instance/hostname", "/computeMetadata/v1/instance/attributes/ssh-keys", "/computeMetadata/v1/instance/attributes/user-data":
			if r.Header.Get("Metadata-Flavor") != "Google" {
				http.Error(w, "missing header", http.StatusForbidden)
				return
			}
			w.Header().Set("Metadata-Flavor", "Google")
			w.Write([]byte(map[string]string{
				"/computeMetadata/v1/instance/id":                   "4242",
				"/computeMetadata/v1/instance/hostname":             "gce1.c.project.internal",
				"/computeMetadata/v1/instance/attributes/ssh-keys":  "ops:" + key + "\n",
				"/computeMetadata/v1/instance/attributes/user-data": "#cloud-config\nhostname: gce\n",
			}[r.URL.Path]))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	d, err := (&OpenStack{URL: srv.URL}).Fetch(context.Background())
	if err != nil || d.InstanceID != "u-1" || d.Hostname != "os1" || string(d.UserData) != "#cloud-config\nhostname: os\n" || d.PublicKeys[0] != key {
		t.Errorf("openstack: %+v %v", d, err)
	}
	d, err = (&GCE{URL: srv.URL}).Fetch(context.Background())
	if err != nil || d.InstanceID != "4242" || d.Hostname != "gce1" || string(d.UserData) != "#cloud-config\nhostname: gce\n" || d.PublicKeys[0] != key {
		t.Errorf("gce: %+v %v", d, err)
	}
	// EC2 on a server that is not EC2's: not found, not an error to stop on.
	if _, err := (&EC2{URL: srv.URL}).Fetch(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("ec2 on openstack: %v", err)
	}
}

func TestFirstTriesInOrderWithTimeouts(t *testing.T) {
	// A black hole: accepts connections, never answers.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ud"), []byte("#cloud-config\nhostname: file\n"), 0o644)
	start := time.Now()
	d, attempts := First(context.Background(), []Source{
		File{SourceName: "fwcfg", Path: filepath.Join(dir, "absent")},
		&EC2{URL: slow.URL},
		File{SourceName: "state", Path: filepath.Join(dir, "ud")},
	}, 300*time.Millisecond)
	if d == nil || d.Source != "state" || !strings.Contains(string(d.UserData), "hostname: file") {
		t.Fatalf("got %+v", d)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("a silent source held boot for %s", time.Since(start))
	}
	var names []string
	for _, a := range attempts {
		names = append(names, a.Source)
	}
	if err := attempts[0].Err; !errors.Is(err, ErrNotFound) {
		t.Errorf("fwcfg without its file: %v, want ErrNotFound", err)
	}
	if err := attempts[1].Err; !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer in 300ms") {
		t.Errorf("ec2 that never answers: %v, want ErrUnavailable: no answer in 300ms", err)
	}
	if diff := cmp.Diff([]string{"fwcfg", "ec2", "state"}, names); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
}

func TestSeedFolders(t *testing.T) {
	nc := t.TempDir()
	os.WriteFile(filepath.Join(nc, "user-data"), []byte("#cloud-config\n"), 0o644)
	os.WriteFile(filepath.Join(nc, "meta-data"), []byte("instance-id: iid-1\nlocal-hostname: nc1\n"), 0o644)
	d, err := readNoCloud(nc)
	if err != nil || d.InstanceID != "iid-1" || d.Hostname != "nc1" {
		t.Errorf("nocloud: %+v %v", d, err)
	}
	if _, err := readNoCloud(t.TempDir()); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty seed: %v", err)
	}
	cd := t.TempDir()
	os.MkdirAll(filepath.Join(cd, "openstack/latest"), 0o755)
	os.WriteFile(filepath.Join(cd, "openstack/latest/meta_data.json"), []byte(`{"uuid":"cd-1","name":"drive"}`), 0o644)
	os.WriteFile(filepath.Join(cd, "openstack/latest/user_data"), []byte("#!/bin/sh\n"), 0o644)
	d, err = readConfigDrive(cd)
	if err != nil || d.InstanceID != "cd-1" || d.Hostname != "drive" || string(d.UserData) != "#!/bin/sh\n" {
		t.Errorf("configdrive: %+v %v", d, err)
	}
	os.WriteFile(filepath.Join(cd, "openstack/latest/meta_data.json"), []byte(`{bad`), 0o644)
	if _, err := readConfigDrive(cd); err == nil || !strings.Contains(err.Error(), "meta_data.json") {
		t.Errorf("bad json: %v", err)
	}
	// A seed is read only up to 16 MiB a file: a crafted disk cannot make
	// PID 1 read a huge file into memory. A sparse file costs nothing here.
	for _, name := range []string{"user-data", "network-config", "meta-data"} {
		big := t.TempDir()
		os.WriteFile(filepath.Join(big, "meta-data"), []byte("instance-id: iid-1\n"), 0o644)
		f, err := os.OpenFile(filepath.Join(big, name), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Truncate(filepath.Join(big, name), 1<<30); err != nil {
			t.Fatal(err)
		}
		_, err = readNoCloud(big)
		if want := filepath.Join(big, name) + ": over 16 MiB"; err == nil || err.Error() != want {
			t.Errorf("a 1 GiB %s: %v, want %q", name, err, want)
		}
	}
}

func TestNoCloudCmdline(t *testing.T) {
	for in, want := range map[string]string{"nocloud;s=http://10.0.2.2:8000/": "http://10.0.2.2:8000/", "nocloud-net;seedfrom=http://x/": "http://x/"} {
		if got, ok := ParseNoCloudCmdline(in); !ok || got != want {
			t.Errorf("%q → %q %v", in, got, ok)
		}
	}
	if _, ok := ParseNoCloudCmdline("ec2"); ok {
		t.Error("ec2 parsed as nocloud")
	}
}

// Volume sources that share a Settle wait for devices once between them,
// on a machine whose disks may still come (an MMC host here).
func TestVolumesWaitOnce(t *testing.T) {
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
	os.MkdirAll(filepath.Join(sys, "class/mmc_host/mmc0"), 0o755)
	settle := &Settle{}
	a, b := NoCloud(), ConfigDrive()
	for _, v := range []*Volume{a, b} {
		v.Sysfs, v.Wait, v.Settle = sys, time.Second, settle
	}
	start := time.Now()
	for _, v := range []*Volume{a, b} {
		if _, err := v.Fetch(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v, want not found", v.Name(), err)
		}
	}
	// Each waiting on its own would take 2s at least.
	if d := time.Since(start); d < time.Second || d >= 2*time.Second {
		t.Errorf("two volume sources took %s: want one wait of 1s", d)
	}
}

// Where the kernel has found every disk before init (no MMC host, no
// VMBus), a volume that is not there is not waited for; with either, it
// is, for the volume's Wait.
func TestVolumeWaitsOnlyWhereDisksMayStillCome(t *testing.T) {
	for _, tc := range []struct {
		bus  string
		wait bool
	}{
		{"", false},
		{"bus/vmbus/devices/f8b3781b-1e82-4818-a1c3-63d806ec15bb", true},
		{"class/mmc_host/mmc0", true},
	} {
		sys := t.TempDir()
		os.MkdirAll(filepath.Join(sys, "class/block"), 0o755)
		os.MkdirAll(filepath.Join(sys, "class/mmc_host"), 0o755) // a kernel with MMC support, no host
		if tc.bus != "" {
			os.MkdirAll(filepath.Join(sys, tc.bus), 0o755)
		}
		v := NoCloud()
		v.Sysfs, v.Wait = sys, 400*time.Millisecond
		start := time.Now()
		if _, err := v.Fetch(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%q: %v, want not found", tc.bus, err)
		}
		if d := time.Since(start); d >= v.Wait != tc.wait {
			t.Errorf("%q: a missing volume took %s; waited: %v, want %v", tc.bus, d, d >= v.Wait, tc.wait)
		}
	}
}

// A metadata service that answers only after a while is asked again, with
// backoff, until the source's timeout.
func TestFirstRetriesNetworkSources(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n < 3 {
			// Not up yet: the connection drops.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		w.Write([]byte("#cloud-config\nhostname: late\n"))
	}))
	defer srv.Close()
	d, attempts := First(context.Background(), []Source{&URL{SourceName: "url", Location: srv.URL + "/ud"}}, 10*time.Second)
	if d == nil || !strings.Contains(string(d.UserData), "hostname: late") {
		t.Fatalf("got %+v, attempts %+v", d, attempts)
	}
	if calls != 3 {
		t.Errorf("%d requests, want 3", calls)
	}
	// A local source is asked once.
	start := time.Now()
	if d, _ := First(context.Background(), []Source{File{SourceName: "state", Path: "/nonexistent/ud"}}, 5*time.Second); d != nil || time.Since(start) > time.Second {
		t.Errorf("a missing local source: %+v after %s", d, time.Since(start))
	}
}

// Nothing listening where a metadata service should be is "not
// answering", not "not present": the fetch loop asks again meanwhile.
func TestTransportFailureIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, s := range []Source{&EC2{URL: url}, &OpenStack{URL: url}, &GCE{URL: url}, &URL{SourceName: "url", Location: url + "/ud"}} {
		_, err := s.Fetch(context.Background())
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: got %v, want ErrUnavailable with the cause", s.Name(), err)
		}
		if !Absent(err) {
			t.Errorf("%s: Absent(%v) = false", s.Name(), err)
		}
	}
}
