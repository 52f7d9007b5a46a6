package parser

import (
	"slices"
	"testing"

	"github.com/tlssniff/tlssniff/budget"
)

// dtlsRecord is a DTLS 1.2 record.
func dtlsRecordBytes(typ uint8, epoch uint16, body []byte) []byte {
	return append([]byte{typ, 0xfe, 0xfd, byte(epoch >> 8), byte(epoch), 0, 0, 0, 0, 0, 1,
		byte(len(body) >> 8), byte(len(body))}, body...)
}

// dtlsFragment is a handshake fragment: bytes off.. of a message of length
// bytes, with message_seq seq.
func dtlsFragmentBytes(typ uint8, length, seq, off int, frag []byte) []byte {
	return append([]byte{typ, byte(length >> 16), byte(length >> 8), byte(length), byte(seq >> 8), byte(seq),
		byte(off >> 16), byte(off >> 8), byte(off), byte(len(frag) >> 16), byte(len(frag) >> 8), byte(len(frag))}, frag...)
}

// TestReadDTLSRecord cuts records from a datagram and refuses a header cut
// short or a length past the datagram.
func TestReadDTLSRecord(t *testing.T) {
	two := append(dtlsRecordBytes(recordAlert, 0, []byte{2, 40}), dtlsRecordBytes(recordApplicationData, 1, []byte("x"))...)
	r, rest, err := readDTLSRecord(two)
	if err != nil || r.typ != recordAlert || r.epoch != 0 || string(r.body) != "\x02\x28" || len(rest) != dtlsHeaderLen+1 {
		t.Fatalf("%+v rest %d %v", r, len(rest), err)
	}
	if r, rest, err = readDTLSRecord(rest); err != nil || r.epoch != 1 || string(r.body) != "x" || len(rest) != 0 {
		t.Fatalf("second: %+v rest %d %v", r, len(rest), err)
	}
	if _, _, err := readDTLSRecord(two[:dtlsHeaderLen-1]); err != errDTLSHeader {
		t.Errorf("header cut short: %v", err)
	}
	if _, _, err := readDTLSRecord(two[:dtlsHeaderLen+1]); err != errDTLSLength {
		t.Errorf("body cut short: %v", err)
	}
}

// TestReadDTLSFragment refuses fragments out of their message's bounds.
func TestReadDTLSFragment(t *testing.T) {
	f, rest, ok := readDTLSFragment(dtlsFragmentBytes(uint8(MsgClientHello), 10, 3, 4, []byte("abc")))
	if !ok || f.typ != MsgClientHello || f.length != 10 || f.seq != 3 || f.off != 4 || string(f.data) != "abc" || len(rest) != 0 {
		t.Fatalf("%+v %d %v", f, len(rest), ok)
	}
	for name, b := range map[string][]byte{
		"past the message":    dtlsFragmentBytes(1, 10, 0, 8, []byte("abc")),
		"past the record":     dtlsFragmentBytes(1, 10, 0, 0, []byte("abc"))[:dtlsHandshakeLen+2],
		"message over 64 KiB": dtlsFragmentBytes(1, maxDTLSMessageLen+1, 0, 0, []byte("abc")),
	} {
		if _, _, ok := readDTLSFragment(b); ok {
			t.Errorf("%s: read", name)
		}
	}
}

// TestDTLSMessages puts messages back together from fragments in any
// order, delivers each once and in message_seq order, and gives back
// every byte it charged.
func TestDTLSMessages(t *testing.T) {
	mem := budget.New(1 << 20).Open(nil)
	var s dtlsMessages
	var got []string
	deliver := func() {
		s.deliver(mem, func(typ MessageType, body []byte) { got = append(got, typ.String()+":"+string(body)) })
	}
	frag := func(seq uint16, length, off int, data string) dtlsFragment {
		return dtlsFragment{typ: MessageType(seq + 1), length: length, seq: seq, off: off, data: []byte(data)}
	}
	for _, step := range []struct {
		f    dtlsFragment
		want int
	}{
		{frag(1, 3, 1, "yz"), fragmentHeld},                // ahead of seq 0
		{frag(0, 4, 2, "cd"), fragmentHeld},                // the end of seq 0 first
		{frag(0, 5, 0, "ab"), fragmentIgnored},             // another length for seq 0: the first stays
		{frag(maxDTLSPending, 1, 0, "q"), fragmentIgnored}, // too far ahead
		{frag(0, 4, 0, "ab"), fragmentHeld},                // completes seq 0, then seq 1 waits for its start
		{frag(1, 3, 0, "x"), fragmentHeld},
		{frag(0, 4, 0, "ab"), fragmentRetransmitted},
	} {
		if r := s.add(step.f, t0, mem); r != step.want {
			t.Fatalf("fragment %+v: %d, want %d", step.f, r, step.want)
		}
		deliver()
	}
	if want := []string{"ClientHello:abcd", "ServerHello:xyz"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	s.add(frag(3, 4, 0, "ab"), t0, mem)
	if n := s.clear(mem); n != 2 || mem.Buffered() != 0 {
		t.Errorf("clear gave back %d bytes, %d still charged", n, mem.Buffered())
	}
}
