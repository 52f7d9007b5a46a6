// Package flowstats holds what the transport layer saw of one flow's packets:
// the one statistics type that reassembly fills, parser reads when it
// decides a connection (by role, with ByRole), and report shows.
//
// It is a leaf: it imports nothing of tlssniff, so that every stage can
// share it without importing the stage above or below.
package flowstats

import (
	"slices"
	"time"
)

// Stats is what was seen of one flow's packets, indexed by side: 0 and 1
// are the two ends as the layer below named them, or client and server
// once ByRole has been applied.
type Stats struct {
	SYN, SYNACK bool // a SYN without ACK, a SYN with ACK were seen
	// Capture times of the TCP handshake: the first SYN, SYN/ACK, and the
	// client's first ACK after the SYN/ACK; zero when not seen.
	SYNTime, SYNACKTime, ACKTime time.Time
	Packets                      [2]uint64 // packets sent by each side
	Retransmits                  uint64    // segments whose bytes were all delivered already
	OutOfOrder                   uint64    // segments that came ahead of a hole
	Truncated                    uint64    // segments the snapshot length cut short
	// Overlaps counts segments that partly covered bytes already taken,
	// Conflicts those whose overlapping bytes differed from a buffered
	// copy. The copy delivered first wins: for bytes already delivered the
	// earlier one; when an in-order segment runs into a buffered one, the
	// in-order segment's.
	Overlaps, Conflicts uint64
	ConflictTime        time.Time // of the first conflict
	ConflictSide        int
	FIN                 [2]bool
	Reset               bool // an RST ended the flow
	ResetSide           int  // the side that sent it
	ResetTime           time.Time
	// Tunnel names the tunnels of the flow's first packet ("vxlan").
	Tunnel string
	// UDP marks a flow of datagrams: each Data call is one datagram, and
	// the client is the first sender unless the ports say otherwise.
	UDP bool
	// Marks are the first MaxMarks retransmitted and out-of-order segments,
	// in capture order, so that a sequence diagram can show where they fell.
	Marks []Mark
}

// MaxMarks caps the Marks kept per flow.
const MaxMarks = 32

// Mark is one retransmitted or out-of-order segment.
type Mark struct {
	Time       time.Time
	Side       int
	Retransmit bool // else it came ahead of a hole
}

// AddMark counts a retransmitted or out-of-order segment of side and
// places it while there is room.
func (s *Stats) AddMark(ts time.Time, side int, retransmit bool) {
	if retransmit {
		s.Retransmits++
	} else {
		s.OutOfOrder++
	}
	if len(s.Marks) < MaxMarks {
		s.Marks = append(s.Marks, Mark{Time: ts, Side: side, Retransmit: retransmit})
	}
}

// AddConflict counts a segment of side whose overlapping bytes differed.
func (s *Stats) AddConflict(ts time.Time, side int) {
	if s.Conflicts == 0 {
		s.ConflictTime, s.ConflictSide = ts, side
	}
	s.Conflicts++
}

// ByRole returns a copy of s whose side 0 is client, with its own Marks:
// the layer below may go on counting into s.
func (s *Stats) ByRole(client int) Stats {
	out := *s
	out.Marks = slices.Clone(s.Marks)
	if client == 0 {
		return out
	}
	out.Packets[0], out.Packets[1] = s.Packets[1], s.Packets[0]
	out.FIN[0], out.FIN[1] = s.FIN[1], s.FIN[0]
	out.ConflictSide, out.ResetSide = 1-s.ConflictSide, 1-s.ResetSide
	for i := range out.Marks {
		out.Marks[i].Side = 1 - out.Marks[i].Side
	}
	return out
}
