package main

import (
	"maps"
	"slices"
	"strings"
)

// resolvHeader opens every resolv.conf the service writes.
const resolvHeader = "# written by berth network\n"

// resolvers gathers the name servers and search domains of all leases, in
// the order of the link names, without repeats.
func resolvers(leases map[string]linkConfig) (nameservers, search []string) {
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

// renderResolv is the resolv.conf for the given leases. Without any name
// server it holds only the header, and resolvers fall back to their
// defaults.
func renderResolv(leases map[string]linkConfig) []byte {
	var b strings.Builder
	b.WriteString(resolvHeader)
	nameservers, search := resolvers(leases)
	for _, ns := range nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	return []byte(b.String())
}
