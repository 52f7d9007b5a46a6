//go:build !cgo

package capture

// LiveSupported is false in a build without libpcap (cgo).
const LiveSupported = false

// OpenLive needs libpcap: this build cannot capture.
func OpenLive(iface string, cfg LiveConfig) (Source, error) { return nil, ErrNoLibpcap }

// Interfaces needs libpcap: this build cannot list them.
func Interfaces() ([]Interface, error) { return nil, ErrNoLibpcap }

// SetFilter needs libpcap to compile the expression.
func (f *File) SetFilter(expr string) error { return ErrNoLibpcap }
