package network

import (
	"maps"
	"slices"
	"strings"

	"github.com/berth-os/berth/internal/netconfig"
)

// resolvHeader opens every resolv.conf the service writes.
const resolvHeader = "# written by berth network\n"

// resolvers are the name servers and search domains for resolv.conf: those
// of the configuration, each where given, else those of the leases.
func resolvers(leases map[string]linkConfig, dns netconfig.Resolver) (nameservers, search []string) {
	nameservers, search = leaseResolvers(leases)
	if len(dns.Nameservers) > 0 {
		nameservers = nil
		for _, a := range dns.Nameservers {
			nameservers = append(nameservers, a.String())
		}
	}
	if len(dns.Search) > 0 {
		search = dns.Search
	}
	return nameservers, search
}

// leaseResolvers gathers the name servers and search domains of all
// leases, in the order of the link names, without repeats.
func leaseResolvers(leases map[string]linkConfig) (nameservers, search []string) {
	for _, name := range slices.Sorted(maps.Keys(leases)) {
		c := leases[name]
		for _, d := range c.DNS {
			if s := d.String(); !slices.Contains(nameservers, s) {
				nameservers = append(nameservers, s)
			}
		}
		for _, s := range c.Search {
			if !slices.Contains(search, s) {
				search = append(search, s)
			}
		}
	}
	return nameservers, search
}

// renderResolv is the resolv.conf for the given leases and configuration.
// Without any name server it holds only the header, and resolvers fall back
// to their defaults.
func renderResolv(leases map[string]linkConfig, dns netconfig.Resolver) []byte {
	var b strings.Builder
	b.WriteString(resolvHeader)
	nameservers, search := resolvers(leases, dns)
	for _, ns := range nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	return []byte(b.String())
}
