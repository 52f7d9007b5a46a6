package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// ecsFields are the Elastic Common Schema fields --format ecs may use, with
// their ECS types, as ECS 8.17's field reference defines them
// (https://www.elastic.co/docs/reference/ecs, pages ecs-base, ecs-ecs,
// ecs-event, ecs-source, ecs-destination, ecs-client, ecs-server,
// ecs-network, ecs-tls, ecs-x509, ecs-related). Fields under tlssniff.* are
// tlssniff's own.
var ecsFields = map[string]string{
	"@timestamp": "date", "ecs.version": "keyword",
	"event.kind": "keyword", "event.category": "keyword", "event.type": "keyword", "event.outcome": "keyword",
	"event.reason": "keyword", "event.start": "date", "event.end": "date", "event.duration": "long",
	"event.id": "keyword", "event.dataset": "keyword", "event.module": "keyword",
	"network.transport": "keyword", "network.type": "keyword", "network.iana_number": "keyword",
	"network.protocol": "keyword", "network.community_id": "keyword", "network.packets": "long",
	"related.ip": "ip", "related.hosts": "keyword", "related.hash": "keyword",
	"tls.version": "keyword", "tls.version_protocol": "keyword", "tls.cipher": "keyword", "tls.curve": "keyword",
	"tls.established": "boolean", "tls.resumed": "boolean", "tls.next_protocol": "keyword",
	"tls.client.server_name": "keyword", "tls.client.ja3": "keyword", "tls.client.supported_ciphers": "keyword",
	"tls.server.ja3s": "keyword",
}

func init() {
	for _, side := range []string{"source", "destination", "client", "server"} {
		for k, v := range map[string]string{"ip": "ip", "port": "long", "address": "keyword", "domain": "keyword", "packets": "long"} {
			ecsFields[side+"."+k] = v
		}
	}
	for _, side := range []string{"tls.client", "tls.server"} {
		for k, v := range map[string]string{"hash.sha256": "keyword", "subject": "keyword", "issuer": "keyword",
			"not_before": "date", "not_after": "date",
			"x509.alternative_names": "keyword", "x509.not_before": "date", "x509.not_after": "date",
			"x509.serial_number": "keyword", "x509.signature_algorithm": "keyword", "x509.public_key_algorithm": "keyword",
			"x509.public_key_size": "long", "x509.version_number": "keyword",
			"x509.issuer.distinguished_name": "keyword", "x509.issuer.common_name": "keyword",
			"x509.issuer.organization": "keyword", "x509.issuer.country": "keyword",
			"x509.subject.distinguished_name": "keyword", "x509.subject.common_name": "keyword",
			"x509.subject.organization": "keyword", "x509.subject.country": "keyword"} {
			ecsFields[side+"."+k] = v
		}
	}
}

// ecsCheck checks a JSON value against an ECS type; arrays hold values of
// the field's type.
func ecsCheck(typ string, v any) bool {
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if !ecsCheck(typ, e) {
				return false
			}
		}
		return len(l) > 0
	}
	switch typ {
	case "keyword":
		s, ok := v.(string)
		return ok && s != ""
	case "long":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "date":
		s, ok := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return ok && err == nil
	case "ip":
		s, ok := v.(string)
		_, err := netip.ParseAddr(s)
		return ok && err == nil
	}
	return false
}

// flattenECS lists the leaves of a document by their dotted names.
func flattenECS(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, e := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		flattenECS(name, e, out)
	}
}

// TestECSFormat checks the ECS document of every connection of every
// sample: each field is one ECS defines, with a value of its type, or sits
// under tlssniff.*; and the values agree with the NDJSON record of the
// same connection.
func TestECSFormat(t *testing.T) {
	used := map[string]bool{}
	docs := 0
	for _, sample := range samples(t) {
		out, stderr, code := tlssniff(t, "-r", sample, "--format", "ecs")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", sample, code, stderr)
		}
		nd, _, _ := tlssniff(t, "-r", sample, "--json")
		conns := parseNDJSON(t, nd)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if out == "" {
			lines = nil
		}
		if len(lines) != len(conns) {
			t.Fatalf("%s: %d ECS documents, %d connections", sample, len(lines), len(conns))
		}
		for i, line := range lines {
			var doc map[string]any
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			docs++
			flat := map[string]any{}
			flattenECS("", doc, flat)
			for name, v := range flat {
				if strings.HasPrefix(name, "tlssniff.") {
					continue
				}
				typ, ok := ecsFields[name]
				if !ok {
					t.Errorf("%s: %s is not an ECS field", sample, name)
					continue
				}
				used[name] = true
				if !ecsCheck(typ, v) {
					t.Errorf("%s: %s = %v is not an ECS %s", sample, name, v, typ)
				}
			}
			c := conns[i]
			want := map[string]any{"network.community_id": c.CommunityID, "event.id": c.UID,
				"source.ip": c.Client.IP, "destination.port": float64(c.Server.Port), "tls.established": c.Established,
				"tlssniff.outcome": c.Outcome}
			if c.SNI != nil {
				want["tls.client.server_name"] = *c.SNI
			}
			if c.ClientHello != nil {
				want["tls.client.ja3"] = c.ClientHello.JA3
			}
			if len(c.Certificates) > 0 {
				want["tls.server.hash.sha256"] = strings.ToUpper(c.Certificates[0].SHA256)
			}
			if c.Version != nil {
				want["tls.version"] = (*c.Version)[strings.Index(*c.Version, " ")+1:]
			}
			for k, w := range want {
				if flat[k] != w {
					t.Errorf("%s connection %d: %s = %v, the NDJSON says %v", sample, i, k, flat[k], w)
				}
			}
		}
	}
	for _, f := range []string{"@timestamp", "event.outcome", "network.community_id", "tls.version", "tls.version_protocol",
		"tls.cipher", "tls.established", "tls.resumed", "tls.next_protocol", "tls.client.server_name", "tls.client.ja3",
		"tls.client.supported_ciphers", "tls.server.ja3s", "tls.server.hash.sha256", "tls.server.x509.not_after",
		"tls.server.not_after", "tls.client.hash.sha256", "event.reason"} {
		if !used[f] {
			t.Errorf("no sample's document has %s", f)
		}
	}
	t.Logf("%d ECS documents, %d ECS fields used", docs, len(used))
}
