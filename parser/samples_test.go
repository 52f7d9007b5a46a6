package parser_test

import (
	"strings"
	"testing"

	"github.com/tlssniff/tlssniff/capture"
	"github.com/tlssniff/tlssniff/parser"
	"github.com/tlssniff/tlssniff/pipeline"
	"github.com/tlssniff/tlssniff/reassembly"
)

// sample reads a capture of samples/ through the pipeline.
func sample(t *testing.T, name string) []*parser.Connection {
	t.Helper()
	f, err := capture.Open("../samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conns, err := pipeline.Read(f, reassembly.DefaultConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

func messages(c *parser.Connection) string {
	var out []string
	for _, m := range c.Messages {
		out = append(out, m.From.String()[:1]+":"+m.Type.String())
	}
	return strings.Join(out, " ")
}

// TestZeroRTT: OpenSSL's 0-RTT (samples/openssl-0rtt.pcap). The client's
// records before the ServerHello are early data, counted and taken as its
// first data; its EndOfEarlyData, a record of its exact size before its
// Finished, says the server accepted them. The first connection, which
// offered none, has none.
func TestZeroRTT(t *testing.T) {
	conns := sample(t, "openssl-0rtt.pcap")
	if len(conns) != 2 {
		t.Fatalf("%d connections", len(conns))
	}
	first, second := conns[0], conns[1]
	if first.EarlyData.Offered || first.EarlyData.Records != 0 || first.EarlyData.Accepted {
		t.Errorf("first connection: early data %+v", first.EarlyData)
	}
	const want = "c:ClientHello c:ChangeCipherSpec c:ApplicationData s:ServerHello s:ChangeCipherSpec " +
		"s:EncryptedExtensions s:Finished c:EndOfEarlyData c:Finished c:ApplicationData s:NewSessionTicket s:ApplicationData"
	if got := messages(second); got != want || !second.Resumed || !second.Established ||
		second.EarlyData != (parser.EarlyData{Offered: true, Records: 1, Accepted: true}) {
		t.Errorf("0-RTT connection: early data %+v, resumed %v, messages\n%s\nwant\n%s", second.EarlyData, second.Resumed, got, want)
	}
	if !second.ClientDataTime.Equal(second.Messages[2].Time) {
		t.Errorf("the client's first data at %v, its early data at %v", second.ClientDataTime, second.Messages[2].Time)
	}
}
