//go:build !cgo || !linux

package capture

import "errors"

// OpenFanout needs Linux's AF_PACKET sockets and libpcap's filter
// compiler.
func OpenFanout(iface string, cfg LiveConfig, n int) (Sharded, error) {
	if !LiveSupported {
		return nil, ErrNoLibpcap
	}
	return nil, errors.New("live capture with several workers needs Linux (AF_PACKET fanout)")
}
