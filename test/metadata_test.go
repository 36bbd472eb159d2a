//go:build qemu

package test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-os/berth/internal/qemu"
)

// The metadata tests run QEMU in a network namespace of their own, on a
// tap device, so that the guest reaches the real 169.254.169.254: the test
// puts that address on the tap, serves metadata there, and gives the guest
// its address with a small DHCP server. Nothing leaves the namespace.

// inNS runs f on an OS thread in ns; the thread is never given back, so no
// other goroutine runs in ns. Processes f starts live in ns. The thread
// lives until the channel f returns is closed (nil: not at all): QEMU has
// a parent-death signal, which the exit of the thread that started it
// sends, not the exit of the process.
func inNS(ns netns.NsHandle, f func() (<-chan struct{}, error)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		hold, err := f()
		errc <- err
		if err == nil && hold != nil {
			<-hold
		}
	}()
	return <-errc
}

// newNS makes a network namespace that lives as long as the test.
func newNS(t *testing.T) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	var ns netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the new namespace
		var err error
		ns, err = netns.New()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("new netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in the new netns: %v", err)
	}
	t.Cleanup(h.Close)
	return ns, h
}

var (
	tapHost  = net.IPv4(10, 55, 0, 1).To4()
	tapGuest = net.IPv4(10, 55, 0, 15).To4()
)

// metadataNet makes the namespace, and returns a starter that runs QEMU
// there and, once QEMU made the tap, sets it up with the metadata address
// and starts the DHCP server and the metadata handler on it.
func metadataNet(t *testing.T, handler http.Handler) (starter, []string) {
	t.Helper()
	ns, h := newNS(t)
	const tap = "btap0"
	start := func(ctx context.Context, cfg qemu.Config, work string, log io.Writer) (*qemu.VM, error) {
		var vm *qemu.VM
		cfg.OwnThread = true // the namespace's
		err := inNS(ns, func() (<-chan struct{}, error) {
			var err error
			if vm, err = qemu.Start(ctx, cfg, work, log); err != nil {
				return nil, err
			}
			return vm.Done(), nil
		})
		if err != nil {
			return nil, err
		}
		if err := setupTap(t, ns, h, tap, handler); err != nil {
			vm.Kill()
			return nil, err
		}
		return vm, nil
	}
	extra := []string{
		"-netdev", "tap,id=t0,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=t0,romfile=",
	}
	return start, extra
}

func setupTap(t *testing.T, ns netns.NsHandle, h *netlink.Handle, tap string, handler http.Handler) error {
	var l netlink.Link
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l, err = h.LinkByName(tap); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("QEMU made no %s: %w", tap, err)
		}
	}
	// The metadata address, and Azure's wireserver.
	for _, a := range []string{"10.55.0.1/24", "169.254.169.254/32", "168.63.129.16/32"} {
		addr, _ := netlink.ParseAddr(a)
		if err := h.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("add %s to %s: %w", a, tap, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	var web, wire net.Listener
	var dhcp *server4.Server
	err = inNS(ns, func() (<-chan struct{}, error) {
		var err error
		if web, err = net.Listen("tcp", "169.254.169.254:80"); err != nil {
			return nil, err
		}
		if wire, err = net.Listen("tcp", "168.63.129.16:80"); err != nil {
			return nil, err
		}
		conn, err := server4.NewIPv4UDPConn(tap, &net.UDPAddr{Port: dhcpv4.ServerPort})
		if err != nil {
			return nil, err
		}
		dhcp, err = server4.NewServer("", nil, dhcpHandler, server4.WithConn(conn))
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("servers on %s: %w", tap, err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(web)
	go srv.Serve(wire)
	go dhcp.Serve()
	t.Cleanup(func() { srv.Close(); dhcp.Close() })
	return nil
}

// dhcpHandler leases tapGuest to whoever asks.
func dhcpHandler(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	var reply dhcpv4.MessageType
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		reply = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		reply = dhcpv4.MessageTypeAck
	default:
		return
	}
	resp, err := dhcpv4.NewReplyFromRequest(m,
		dhcpv4.WithMessageType(reply),
		dhcpv4.WithYourIP(tapGuest),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(tapHost)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(tapHost),
		dhcpv4.WithLeaseTime(3600))
	if err != nil {
		return
	}
	if u, ok := peer.(*net.UDPAddr); ok && u.IP.IsUnspecified() {
		peer = &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	conn.WriteTo(resp.ToBytes(), peer)
}

// metadataServer serves what a cloud's metadata service serves, and
// records the requests.
type metadataServer struct {
	mu    sync.Mutex
	asked []string
	// posted are the bodies of POST requests, by path.
	posted map[string][]string
	// files by path; a response of the service
	files map[string]string
	// check refuses a request (with a status) as the cloud would.
	check func(r *http.Request) int
	// header is set on every response.
	header map[string]string
}

func (s *metadataServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.asked = append(s.asked, r.Method+" "+r.URL.Path)
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if s.posted == nil {
			s.posted = map[string][]string{}
		}
		s.posted[r.URL.Path] = append(s.posted[r.URL.Path], string(b))
	}
	s.mu.Unlock()
	for k, v := range s.header {
		w.Header().Set(k, v)
	}
	if s.check != nil {
		if code := s.check(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	data, ok := s.files[r.Method+" "+r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	io.WriteString(w, data)
}

func (s *metadataServer) requests() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.asked, "\n")
}

// bootCloud boots on the tap network with DMI tables that name the cloud,
// as the cloud's own hypervisor shows them.
func bootCloud(t *testing.T, srv *metadataServer, smbios string) *machine {
	t.Helper()
	start, extra := metadataNet(t, srv)
	cfg := directBoot(t, "berth.autologin")
	cfg.Net = false
	cfg.Extra = append(cfg.Extra, extra...)
	cfg.Extra = append(cfg.Extra, "-smbios", smbios)
	return bootWith(t, cfg, start)
}

const ec2Token = "AQAEAFTqY3-berth-test-token=="

func ec2Server(ds, pub string, v2 bool) *metadataServer {
	s := &metadataServer{files: map[string]string{
		"GET /latest/meta-data/instance-id":               "i-0123456789abcdef0",
		"GET /latest/meta-data/local-hostname":            "ip-10-55-0-15.ec2.internal",
		"GET /latest/meta-data/public-keys/0/openssh-key": pub + "\n",
		"GET /latest/user-data":                           dsUserData(ds, "", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user-data-key"),
	}}
	if v2 {
		s.files["PUT /latest/api/token"] = ec2Token
		// IMDSv2 only, as an instance with HttpTokens=required: a GET
		// without the token is refused.
		s.check = func(r *http.Request) int {
			if r.Method == http.MethodPut {
				if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
					return http.StatusBadRequest
				}
				return 0
			}
			if r.Header.Get("X-aws-ec2-metadata-token") != ec2Token {
				return http.StatusUnauthorized
			}
			return 0
		}
	} else {
		// IMDSv1 only: the token endpoint is refused.
		s.check = func(r *http.Request) int {
			if r.Method == http.MethodPut {
				return http.StatusForbidden
			}
			return 0
		}
	}
	return s
}

func datasourceEC2IMDSv2(t *testing.T) {
	_, pub := sshKey(t)
	srv := ec2Server("ec2", pub, true)
	m := bootCloud(t, srv, "type=1,manufacturer=Amazon EC2,product=t3.micro")
	m.checkDatasource("ec2", "ip-10-55-0-15", pub)
	if reqs := srv.requests(); !strings.HasPrefix(reqs, "PUT /latest/api/token\n") {
		t.Errorf("no IMDSv2 session first; requests:\n%s", reqs)
	}
}

func datasourceEC2IMDSv1(t *testing.T) {
	_, pub := sshKey(t)
	srv := ec2Server("ec2", pub, false)
	m := bootCloud(t, srv, "type=1,manufacturer=Amazon EC2,product=t2.micro")
	m.checkDatasource("ec2", "ip-10-55-0-15", pub)
	if reqs := srv.requests(); !strings.Contains(reqs, "GET /latest/user-data") {
		t.Errorf("user-data not read over IMDSv1; requests:\n%s", reqs)
	}
}

func datasourceOpenStack(t *testing.T) {
	_, pub := sshKey(t)
	srv := &metadataServer{files: map[string]string{
		"GET /openstack/latest/meta_data.json": fmt.Sprintf(`{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "cc-openstack.novalocal", "public_keys": {"mykey": %q}}`, pub),
		"GET /openstack/latest/user_data":      dsUserData("openstack", "", pub),
	}}
	m := bootCloud(t, srv, "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova")
	m.checkDatasource("openstack", "cc-openstack", pub)
}

func datasourceGCE(t *testing.T) {
	_, pub := sshKey(t)
	srv := &metadataServer{
		files: map[string]string{
			"GET /computeMetadata/v1/instance/id":                   "4520031799277581759",
			"GET /computeMetadata/v1/instance/hostname":             "cc-gce.c.berth-test.internal",
			"GET /computeMetadata/v1/instance/attributes/ssh-keys":  "root:" + pub + "\n",
			"GET /computeMetadata/v1/instance/attributes/user-data": dsUserData("gce", "", pub),
		},
		header: map[string]string{"Metadata-Flavor": "Google"},
		check: func(r *http.Request) int {
			if r.Header.Get("Metadata-Flavor") != "Google" {
				return http.StatusForbidden
			}
			return 0
		},
	}
	m := bootCloud(t, srv, "type=1,manufacturer=Google,product=Google Compute Engine")
	m.checkDatasource("gce", "cc-gce", pub)
}

// The Azure VM's provisioning media and the fabric's ids, as Azure gives
// them (the datasource's unit tests hold the whole recorded documents).
const (
	azureVMID      = "02aab8a4-74ef-476e-8182-f6d2ba4166a6"
	azureContainer = "50109d51-ef1a-4d9e-a4ba-0e0bf9d1a3f0"
	azureInstance  = "896d9ff8-0f37-4bd2-a1f7-fd4c0c3f5f63._azvm-berth"
)

// datasourceAzure boots as an Azure VM does: its DMI asset tag, the
// provisioning media (ovf-env.xml on a UDF bridge CD, which needs udf's
// module) on the IDE CD drive, IMDS, and the wireserver, which must hear
// that the VM is ready.
func datasourceAzure(t *testing.T) {
	_, pub := sshKey(t)
	custom := base64.StdEncoding.EncodeToString([]byte(dsUserData("azure", "", pub)))
	ovf := `<?xml version="1.0" encoding="utf-8"?>
<ns0:Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <ns1:ProvisioningSection><ns1:Version>1.0</ns1:Version>
    <ns1:LinuxProvisioningConfigurationSet>
      <ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>
      <ns1:HostName>azvm-berth</ns1:HostName>
      <ns1:UserName>azureuser</ns1:UserName>
      <ns1:SSH><ns1:PublicKeys><ns1:PublicKey><ns1:Fingerprint>EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62</ns1:Fingerprint><ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path><ns1:Value>` + pub + `</ns1:Value></ns1:PublicKey></ns1:PublicKeys></ns1:SSH>
      <ns1:CustomData>` + custom + `</ns1:CustomData>
    </ns1:LinuxProvisioningConfigurationSet>
  </ns1:ProvisioningSection>
</ns0:Environment>
`
	media := filepath.Join(t.TempDir(), "ovf.iso")
	if err := runCmd("genisoimage", "-quiet", "-udf", "-V", "rd_rdfe_stable.20261204-1200", "-o", media, seedDir(t, map[string]string{"ovf-env.xml": ovf})); err != nil {
		t.Fatal(err)
	}
	srv := &metadataServer{
		files: map[string]string{
			"GET /metadata/instance": `{"compute": {"name": "azvm-berth", "osProfile": {"computerName": "azvm-berth"}, "vmId": "` + azureVMID + `", "publicKeys": []}}`,
			"GET /machine/": `<?xml version="1.0" encoding="utf-8"?>
<GoalState><Version>2012-11-30</Version><Incarnation>3</Incarnation>
  <Container><ContainerId>` + azureContainer + `</ContainerId>
    <RoleInstanceList><RoleInstance><InstanceId>` + azureInstance + `</InstanceId><State>Started</State></RoleInstance></RoleInstanceList>
  </Container></GoalState>`,
			"POST /machine/": "",
		},
		check: func(r *http.Request) int {
			switch {
			case strings.HasPrefix(r.URL.Path, "/metadata/") && r.Header.Get("Metadata") != "true":
				return http.StatusBadRequest
			case r.URL.Path == "/machine/" && r.Header.Get("x-ms-version") != "2012-11-30":
				return http.StatusBadRequest
			}
			return 0
		},
	}
	start, extra := metadataNet(t, srv)
	cfg := directBoot(t, "berth.autologin")
	cfg.Net = false
	cfg.Extra = append(cfg.Extra, extra...)
	cfg.Extra = append(cfg.Extra,
		"-smbios", "type=1,manufacturer=Microsoft Corporation,product=Virtual Machine",
		"-smbios", "type=3,manufacturer=Microsoft Corporation,asset=7783-7084-3265-9085-8269-3286-77",
		// A CD without ovf-env.xml comes first: the media is looked for
		// on every CD, not the first one.
		"-drive", "file="+isoOf(t, seedDir(t, map[string]string{"README": "drivers\n"}), "DRIVERS")+",media=cdrom,readonly=on,if=ide,index=0",
		"-drive", "file="+media+",media=cdrom,readonly=on,if=ide,index=1")
	m := bootWith(t, cfg, start)
	m.checkDatasource("azure", "azvm-berth", pub)
	// The media was read as UDF: its module is loaded.
	if out := m.sh("grep -w udf /proc/filesystems"); !strings.Contains(out, "udf") {
		t.Errorf("udf is not loaded: the media was not read as UDF")
	}
	srv.mu.Lock()
	reports := append([]string(nil), srv.posted["/machine/"]...)
	srv.mu.Unlock()
	if len(reports) != 1 {
		t.Fatalf("%d reports to the wireserver, want 1; requests:\n%s", len(reports), srv.requests())
	}
	for _, want := range []string{"<GoalStateIncarnation>3</GoalStateIncarnation>", "<ContainerId>" + azureContainer + "</ContainerId>", "<InstanceId>" + azureInstance + "</InstanceId>", "<State>Ready</State>"} {
		if !strings.Contains(reports[0], want) {
			t.Errorf("the ready report lacks %s:\n%s", want, reports[0])
		}
	}
	if out, _ := m.shCode("hostctl config status"); !strings.Contains(out, "reported ready to the wireserver (goal state incarnation 3)") {
		t.Errorf("hostctl config status does not say the VM was reported ready:\n%s", out)
	}
	// IMDS's vmId is the instance: runcmd ran once for it.
	if out := m.sh("ls /var/lib/berth/config/instances"); strings.TrimSpace(out) != azureVMID {
		t.Errorf("instances %q, want IMDS's vmId %s", out, azureVMID)
	}
}
