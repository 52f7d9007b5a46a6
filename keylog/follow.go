package keylog

import (
	"bytes"
	"io"
	"os"
	"time"
)

// Follow reads the file name as it grows, every interval, until stop is
// closed: a live capture's key log, to which a client writes a line at
// each handshake. A last line without its newline waits for it; a file not
// there yet is waited for; a file that shrinks (truncated, rotated) is read
// again from its start. Lines that cannot be read go to bad, numbered in
// the file.
func (l *Log) Follow(name string, interval time.Duration, stop <-chan struct{}, bad func(*LineError)) {
	var offset int64
	var partial []byte
	lines := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if st, err := os.Stat(name); err == nil {
			if st.Size() < offset {
				offset, partial, lines = 0, nil, 0
			}
			if st.Size() > offset {
				var got []byte
				got, offset = readFrom(name, offset)
				partial = append(partial, got...)
				if end := bytes.LastIndexByte(partial, '\n'); end >= 0 {
					before := lines
					l.Read(bytes.NewReader(partial[:end+1]), name, func(e *LineError) {
						e.Line += before
						bad(e)
					})
					lines += bytes.Count(partial[:end+1], []byte{'\n'})
					partial = append(partial[:0], partial[end+1:]...)
				}
				if len(partial) > maxLine { // no newline in sight: not a key log line
					partial = partial[:0]
				}
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// readFrom returns what the file holds past offset, and the offset after
// it.
func readFrom(name string, offset int64) ([]byte, int64) {
	f, err := os.Open(name)
	if err != nil {
		return nil, offset
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, offset, 1<<62))
	return b, offset + int64(len(b))
}
