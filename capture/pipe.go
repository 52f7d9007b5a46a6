//go:build linux

package capture

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipe is the pipe, socket or terminal a capture is read from.
type pipe struct {
	conn syscall.RawConn
	n    int
	ask  func(fd uintptr) // asks for n, made once: a closure a call allocated
}

func newPipe(f *os.File) *pipe {
	conn, err := f.SyscallConn()
	if err != nil {
		return &pipe{}
	}
	p := &pipe{conn: conn}
	p.ask = func(fd uintptr) {
		n, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
		if err != nil {
			n = 0
		}
		p.n = n
	}
	return p
}

// unread is how many bytes the pipe holds that no read has taken yet; 0
// when the system cannot say.
func (p *pipe) unread() int {
	if p.conn == nil || p.conn.Control(p.ask) != nil {
		return 0
	}
	return p.n
}
