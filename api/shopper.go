package api

// X-Shopper-IP: a storefront's backend that calls a customer API server to server names
// the shopper it acts for, so that rate limits, lockout, devices and the audit trail
// see the shopper's address instead of the backend's. Only a confidential client
// holding the behavior customer-auth:forward-shopper-ip may; the dialects decide who is
// allowed and answer ErrShopperIP in their own shape.

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/custodian-id/custodian/identity"
)

// ShopperIPHeader names the shopper's address on a server-to-server call.
const ShopperIPHeader = "X-Shopper-IP"

// ErrShopperIP is an X-Shopper-IP header of an allowed caller that is not one address.
var ErrShopperIP = errors.New("the X-Shopper-IP header must be one IPv4 or IPv6 address")

// ForwardShopper returns ctx with the address of the request's X-Shopper-IP as the
// client's (identity.RequestMeta.IP) when allowed is true and the header is present.
// For a caller that is not allowed the header is ignored: ctx is returned unchanged. A
// header of an allowed caller that is not exactly one address (IPv4, or IPv6 bare or in
// brackets, without port or zone) is ErrShopperIP.
func ForwardShopper(ctx context.Context, r *http.Request, allowed bool) (context.Context, error) {
	vals, ok := r.Header[http.CanonicalHeaderKey(ShopperIPHeader)]
	if !allowed || !ok {
		return ctx, nil
	}
	if len(vals) != 1 {
		return ctx, ErrShopperIP
	}
	a, err := parseShopperIP(vals[0])
	if err != nil {
		return ctx, err
	}
	meta := identity.RequestMetaFromContext(ctx)
	meta.IP = a.String()
	return identity.WithRequestMeta(ctx, meta), nil
}

func parseShopperIP(v string) (netip.Addr, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	if v == "" || len(v) > 45 {
		return netip.Addr{}, ErrShopperIP
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, ErrShopperIP
	}
	return a.Unmap(), nil
}
