package flowstats

import (
	"testing"
	"time"
)

// TestByRole: side 1 becomes side 0 when it is the client, in every field
// indexed by side, and the copy's Marks are its own.
func TestByRole(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var s Stats
	s.Packets = [2]uint64{3, 7}
	s.FIN = [2]bool{false, true}
	s.Reset, s.ResetSide = true, 1
	s.AddConflict(t0, 0)
	s.AddConflict(t0.Add(time.Second), 1) // only the first is placed
	s.AddMark(t0, 1, true)
	s.AddMark(t0, 0, false)
	same := s.ByRole(0)
	if same.Packets != s.Packets || same.ResetSide != 1 || same.Marks[0].Side != 1 {
		t.Errorf("client 0: %+v", same)
	}
	r := s.ByRole(1)
	if r.Packets != [2]uint64{7, 3} || r.FIN != [2]bool{true, false} || r.ResetSide != 0 || r.ConflictSide != 1 ||
		r.Conflicts != 2 || r.ConflictTime != t0 || r.Marks[0].Side != 0 || r.Marks[1].Side != 1 {
		t.Errorf("client 1: %+v", r)
	}
	if s.Marks[0].Side != 1 || &s.Marks[0] == &r.Marks[0] {
		t.Error("ByRole changed or shared the marks it was given")
	}
	if s.Retransmits != 1 || s.OutOfOrder != 1 {
		t.Errorf("%d retransmits, %d out of order", s.Retransmits, s.OutOfOrder)
	}
}

// TestMarksAreCapped: past MaxMarks, segments are counted, not placed.
func TestMarksAreCapped(t *testing.T) {
	var s Stats
	for range MaxMarks + 5 {
		s.AddMark(time.Time{}, 0, true)
	}
	if len(s.Marks) != MaxMarks || s.Retransmits != MaxMarks+5 {
		t.Errorf("%d marks, %d retransmits", len(s.Marks), s.Retransmits)
	}
}
