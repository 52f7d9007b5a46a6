package parser

import (
	"slices"
	"testing"

	"github.com/tlssniff/tlssniff/flowstats"
)

// TestTypeNames: message types, issue kinds, transports and outcomes print as
// docs/CONTRACT.md and the JSON spell them; an unknown handshake type as
// its code.
func TestTypeNames(t *testing.T) {
	for v, want := range map[MessageType]string{
		MsgClientHello: "ClientHello", MsgFinished: "Finished", MsgHelloRetryRequest: "HelloRetryRequest",
		MsgChangeCipherSpec: "ChangeCipherSpec", MsgAlert: "Alert", MsgApplicationData: "ApplicationData",
		MsgHeartbeat: "Heartbeat", MsgEncryptedHandshake: "EncryptedHandshake", 24: "KeyUpdate",
		7: "0x07", 0xfd: "0xFD", 0x116: "0x116",
	} {
		if got := v.String(); got != want {
			t.Errorf("MessageType %#x: %q, want %q", uint16(v), got, want)
		}
	}
	var kinds []string
	for k := IssueGap; k <= IssueUndecided; k++ {
		kinds = append(kinds, k.String())
	}
	if want := []string{"gap", "memory_budget", "malformed_record", "malformed_message", "not_tls", "preamble",
		"overlap_conflict", "unknown_version", "undecided"}; !slices.Equal(kinds, want) {
		t.Errorf("issue kinds %q", kinds)
	}
	if TCP.String() != "tcp" || UDP.String() != "udp" {
		t.Errorf("transports %s %s", TCP, UDP)
	}
	for _, o := range Outcomes {
		if got, ok := ParseOutcome(o.String()); !ok || got != o {
			t.Errorf("ParseOutcome(%q) = %v %v", o, got, ok)
		}
	}
	if _, ok := ParseOutcome("failed"); ok {
		t.Error("ParseOutcome took an unknown name")
	}
	var failed []string
	for _, o := range Outcomes {
		if o.Failed() {
			failed = append(failed, o.String())
		}
	}
	if want := []string{"alert", "version_or_cipher_mismatch", "client_aborted_after_server_flight", "reset",
		"not_tls_after_start", "no_server_hello"}; !slices.Equal(failed, want) {
		t.Errorf("failed outcomes %q", failed)
	}
	if QUICVersionName(1) != "1" || QUICVersionName(0x6b3343cf) != "2" || QUICVersionName(0xff00001d) != "draft-29" ||
		QUICVersionName(0x54303531) != "Google T051" || QUICVersionName(0xfaceb002) != "mvfst (draft-27)" || QUICVersionName(0xabcd0000) != "0xabcd0000" {
		t.Error("QUIC version names")
	}
}

// TestMessageFacts: the alert a message carries, the hello a ClientHello
// message carries, and the alert the outcome names, on a real TLS 1.2
// session whose server warns, then refuses.
func TestMessageFacts(t *testing.T) {
	f := tls12Flights(t)
	got := decide(t, flowstats.Stats{}, f.clientHello, f.serverFlight, alertRecord(false, 1, 0), alertRecord(false, 2, 80))
	var alerts []string
	for i, m := range got.Messages {
		if a := got.AlertAt(i); a != nil {
			alerts = append(alerts, m.Type.String()+" "+AlertName(a.Description))
		} else if m.Type == MsgAlert {
			t.Errorf("alert message %d without its alert", i)
		}
	}
	if want := []string{"Alert close_notify", "Alert internal_error"}; !slices.Equal(alerts, want) {
		t.Errorf("alerts by message %q", alerts)
	}
	if a := got.DecisiveAlert(); got.Outcome != OutcomeAlert || a == nil || a.Description != 0 {
		t.Errorf("outcome %s names %+v, want the first alert", got.Outcome, a)
	}
	if got.HelloAt(0) != got.ClientHello || got.RetryClientHello != nil {
		t.Error("the first ClientHello message")
	}
	if got.ECHGrease() != nil {
		t.Error("ECH decided without a HelloRetryRequest")
	}
}
