package network

import (
	"errors"
	"slices"
)

// linkConfigurer is the seam between the service and the kernel: the few
// changes it makes to links. netlinkConfigurer is the real one; tests use a
// recorder. Deleting something that is already gone is not an error, nor is
// making a link that is already there.
type linkConfigurer interface {
	// SetLink sets the link up and, if mtu > 0, its MTU.
	SetLink(link string, mtu int) error
	ReplaceAddr(link string, a address) error
	DeleteAddr(link string, a address) error
	// ReplaceRoute and DeleteRoute take IPv4 and IPv6 routes.
	ReplaceRoute(link string, r route) error
	DeleteRoute(link string, r route) error
	// AddLink makes a VLAN, bond or bridge.
	AddLink(spec linkSpec) error
	DeleteLink(link string) error
	// SetMaster enslaves link to the bond or bridge master, or with
	// master "" frees it from any.
	SetMaster(link, master string) error
}

// apply moves link from the configuration of its old lease (nil: none) to
// that of its new one. On a renewal that changed nothing it refreshes the
// lifetime of the address and puts back any route someone removed. It goes
// as far as it can and returns every failure.
func apply(c linkConfigurer, link string, old *linkConfig, cfg linkConfig) error {
	var errs []error
	if cfg.MTU > 0 && (old == nil || old.MTU != cfg.MTU) {
		errs = append(errs, c.SetLink(link, cfg.MTU))
	}
	if old != nil && old.Addr != cfg.Addr {
		errs = append(errs, remove(c, link, *old))
		old = nil
	}
	if err := c.ReplaceAddr(link, cfg.address()); err != nil {
		// Without the address no route through the subnet can go in.
		return errors.Join(append(errs, err)...)
	}
	for _, r := range cfg.Routes {
		errs = append(errs, c.ReplaceRoute(link, r))
	}
	// Stale routes go after the new ones are in, so that a default route
	// that moved to another gateway is never missing.
	if old != nil {
		for i := len(old.Routes) - 1; i >= 0; i-- {
			if r := old.Routes[i]; !slices.Contains(cfg.Routes, r) {
				errs = append(errs, c.DeleteRoute(link, r))
			}
		}
	}
	return errors.Join(errs...)
}

// remove takes the configuration of a lost lease off link: its routes, in
// the reverse order of their addition, then its address.
func remove(c linkConfigurer, link string, old linkConfig) error {
	var errs []error
	for i := len(old.Routes) - 1; i >= 0; i-- {
		errs = append(errs, c.DeleteRoute(link, old.Routes[i]))
	}
	errs = append(errs, c.DeleteAddr(link, old.address()))
	return errors.Join(errs...)
}
