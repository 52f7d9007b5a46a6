package capture

import (
	"errors"
	"io"
	"slices"
)

// Merge reads several files as one stream in capture-time order. A file that
// fails is dropped from the merge and its error kept; the others go on.
type Merge struct {
	files   []*File
	pending []Packet // the next packet of each file
	live    []bool
	started bool
	last    int // file whose packet was returned last
	errs    []error
}

// NewMerge merges files; it takes ownership of them.
func NewMerge(files ...*File) *Merge {
	return &Merge{files: files, pending: make([]Packet, len(files)), live: make([]bool, len(files))}
}

// Piped reports whether a file is read from a pipe.
func (m *Merge) Piped() bool { return slices.ContainsFunc(m.files, (*File).Piped) }

// Interrupt ends the input of every file read from a pipe (File.Interrupt).
func (m *Merge) Interrupt() {
	for _, f := range m.files {
		f.Interrupt()
	}
}

// Waits reports whether the next Next may wait for bytes not yet written
// to a pipe (File.Waits).
func (m *Merge) Waits() bool { return slices.ContainsFunc(m.files, (*File).Waits) }

// Next returns the earliest pending packet. Its payload is valid until the
// next call. It returns io.EOF when every file is done.
func (m *Merge) Next(p *Packet) error {
	if len(m.files) == 1 {
		// One file needs no merging: read into p directly, without the
		// copy of each packet through pending.
		if m.started {
			return io.EOF // the file failed before
		}
		err := m.files[0].Next(p)
		if err != nil && err != io.EOF {
			m.errs = append(m.errs, err) // kept for Err, as for several files
			m.started = true
			return io.EOF
		}
		return err
	}
	if !m.started {
		m.started = true
		for i := range m.files {
			m.advance(i)
		}
	} else if m.last >= 0 {
		m.advance(m.last)
	}
	best := -1
	for i, ok := range m.live {
		if ok && (best < 0 || m.pending[i].Time.Before(m.pending[best].Time)) {
			best = i
		}
	}
	m.last = best
	if best < 0 {
		return io.EOF
	}
	*p = m.pending[best]
	return nil
}

func (m *Merge) advance(i int) {
	err := m.files[i].Next(&m.pending[i])
	m.live[i] = err == nil
	if err != nil && err != io.EOF {
		m.errs = append(m.errs, err)
	}
}

// Err returns the read errors met so far, joined.
func (m *Merge) Err() error { return errors.Join(m.errs...) }

// Stats returns the counts of all files added up.
func (m *Merge) Stats() Stats {
	var s Stats
	for _, f := range m.files {
		s = s.Add(f.Stats())
	}
	return s
}

// Close closes every file.
func (m *Merge) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
