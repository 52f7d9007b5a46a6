package capture

import (
	"io"
	"sync"
)

// pump reads a pipe, a socket or a terminal (tcpdump -w - | tlssniff -r -)
// on a goroutine of its own, so that its reader can tell whether the next
// bytes are here (waits) and can end the input without them (interrupt):
// a read of a pipe waits for as long as its writer likes, and nothing
// stops it from outside. Its buffers are bounded: pumpDepth chunks read
// ahead, one being read and one being filled.
type pump struct {
	chunks chan chunk  // read, in order; one with an error is the last
	free   chan []byte // buffers to read into again
	cur    chunk       // being read
	stop   chan struct{}
	once   sync.Once
}

type chunk struct {
	data, buf []byte // data: what is left of buf to read
	err       error
}

const (
	pumpChunk = 64 << 10
	pumpDepth = 4
)

func newPump(r io.Reader) *pump {
	p := &pump{chunks: make(chan chunk, pumpDepth), free: make(chan []byte, pumpDepth+2), stop: make(chan struct{})}
	go p.run(r)
	return p
}

func (p *pump) run(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		default:
			buf = make([]byte, pumpChunk)
		}
		n, err := r.Read(buf)
		select {
		case p.chunks <- chunk{data: buf[:n], buf: buf, err: err}:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read takes what the pump read, waiting for it if need be; once
// interrupted, it returns io.EOF instead of waiting.
func (p *pump) Read(b []byte) (int, error) {
	for len(p.cur.data) == 0 {
		if p.cur.err != nil {
			return 0, p.cur.err
		}
		if p.cur.buf != nil {
			select {
			case p.free <- p.cur.buf:
			default:
			}
			p.cur.buf = nil
		}
		select {
		case p.cur = <-p.chunks:
		case <-p.stop:
			p.cur = chunk{err: io.EOF}
		}
	}
	n := copy(b, p.cur.data)
	p.cur.data = p.cur.data[n:]
	return n, nil
}

// waits reports whether a Read would wait for bytes not yet read.
func (p *pump) waits() bool {
	return len(p.cur.data) == 0 && p.cur.err == nil && len(p.chunks) == 0
}

// interrupt ends the input: Read returns io.EOF once it has nothing at
// hand. It may be called from any goroutine.
func (p *pump) interrupt() { p.once.Do(func() { close(p.stop) }) }

func (p *pump) interrupted() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}
