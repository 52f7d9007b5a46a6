package tlstest

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenSSL runs one connection between openssl s_server and s_client, the
// client sending a GET to the server's -www page, through a relay on
// loopback that records every read in order: bytes from a real OpenSSL
// stack for what crypto/tls does not do (CCM_8 and SHA-384 suites, chosen
// TLS 1.3 ciphersuites). In the arguments added to each command, {cert},
// {key} and {ca} stand for the PKI's server certificate chain, its key and
// the CA, in PEM files; the server is also given {cert} and {key}, the
// client {ca}.
func (p *PKI) OpenSSL(serverArgs, clientArgs []string) ([]Write, error) {
	return p.Client(serverArgs, func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd {
		c := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-quiet", "-connect",
			fmt.Sprintf("127.0.0.1:%d", port)}, expand(append([]string{"-CAfile", "{ca}"}, clientArgs...))...)...)
		c.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
		return c
	})
}

// ClientCmd makes the command of a client that connects to 127.0.0.1:port;
// expand replaces {cert}, {key} and {ca} in its arguments.
type ClientCmd func(ctx context.Context, port int, expand func([]string) []string) *exec.Cmd

// Client runs one connection from the command client makes to openssl
// s_server (serverArgs as for OpenSSL) through the recording relay: curl,
// gnutls-cli, any client on the machine.
func (p *PKI) Client(serverArgs []string, client ClientCmd) ([]Write, error) {
	writes, err := p.Clients(append([]string{"-www"}, serverArgs...), client)
	if len(writes) == 0 {
		return nil, err
	}
	return writes[0], err
}

// Clients runs one connection from each client in turn to the same
// openssl s_server (its session tickets valid for all: resumption, 0-RTT),
// given serverArgs without -www, and returns each connection's writes. With
// -dtls1_2 or -dtls1 in serverArgs the relay carries datagrams, each write
// one datagram.
func (p *PKI) Clients(serverArgs []string, clients ...ClientCmd) ([][]Write, error) {
	return p.ClientsTyping(serverArgs, "", clients...)
}

// ClientsTyping is Clients with a command typed into s_server half a
// typing delay after each client started ("r" renegotiates, "R" with a
// request for the client's certificate, "k" updates the keys): after its
// handshake, between the client's first line (Typed) and its second.
func (p *PKI) ClientsTyping(serverArgs []string, typed string, clients ...ClientCmd) ([][]Write, error) {
	all := make([][]Write, len(clients))
	dir, err := os.MkdirTemp("", "tlstest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key, err := x509.MarshalPKCS8PrivateKey(p.Server.PrivateKey)
	if err != nil {
		return nil, err
	}
	files := map[string]string{"{cert}": filepath.Join(dir, "cert.pem"), "{key}": filepath.Join(dir, "key.pem"),
		"{ca}": filepath.Join(dir, "ca.pem")}
	var chain []byte
	for _, der := range p.Server.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	for name, data := range map[string][]byte{"{cert}": chain, "{ca}": p.CAPEM(),
		"{key}": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})} {
		if err := os.WriteFile(files[name], data, 0o600); err != nil {
			return nil, err
		}
	}
	expand := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			if f, ok := files[a]; ok {
				a = f
			}
			out[i] = a
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	server := exec.CommandContext(ctx, "openssl", append([]string{"s_server", "-accept", "0", "-naccept", strconv.Itoa(len(clients)),
		"-cert", files["{cert}"], "-key", files["{key}"]}, expand(serverArgs)...)...)
	out, err := server.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Without -www, s_server ends a connection at the end of its input:
	// the input stays open until the clients are done.
	in, err := server.StdinPipe()
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if err := server.Start(); err != nil {
		return nil, err
	}
	defer server.Wait()
	defer server.Process.Kill()
	// s_server says "ACCEPT [::]:PORT" once it listens.
	var port string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "ACCEPT "); ok {
			port = rest[strings.LastIndex(rest, ":")+1:]
			break
		}
	}
	if port == "" {
		return nil, fmt.Errorf("openssl s_server did not listen: %v", lines.Err())
	}
	go io.Copy(io.Discard, out)

	udp := slices.ContainsFunc(serverArgs, func(a string) bool { return strings.HasPrefix(a, "-dtls") })
	for i, client := range clients {
		var ln io.Closer
		var relayPort int
		if udp {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return all, err
			}
			ln, relayPort = pc, pc.LocalAddr().(*net.UDPAddr).Port
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return all, err
			}
			ln, relayPort = l, l.Addr().(*net.TCPAddr).Port
		}
		cmd := client(ctx, relayPort, expand)
		var clientErr strings.Builder
		cmd.Stderr = &clientErr
		if err := cmd.Start(); err != nil {
			ln.Close()
			return all, err
		}
		if typed != "" {
			go func() {
				time.Sleep(typingDelay / 2)
				io.WriteString(in, typed+"\n")
			}()
		}
		rec := &recorder{}
		relayed := make(chan error, 1)
		if udp {
			go func() { relayed <- relayDatagrams(ln.(net.PacketConn), "127.0.0.1:"+port, rec) }()
		} else {
			go func() { relayed <- relay(ln.(net.Listener), "127.0.0.1:"+port, rec) }()
		}
		err = cmd.Wait()
		if udp {
			time.Sleep(100 * time.Millisecond) // the server's last datagrams
			ln.Close()
		}
		rerr := <-relayed
		ln.Close()
		all[i] = rec.writes
		if rerr != nil {
			return all, rerr
		}
		if err != nil {
			return all, fmt.Errorf("%s: %v: %s", cmd.Path, err, clientErr.String())
		}
	}
	return all, nil
}

// relayDatagrams carries datagrams between the first client that writes to
// pc and addr, recording each, until pc is closed.
func relayDatagrams(pc net.PacketConn, addr string, rec *recorder) error {
	s, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer s.Close()
	var client net.Addr
	var mu sync.Mutex
	record := func(fromClient bool, b []byte) {
		rec.mu.Lock()
		rec.writes = append(rec.writes, Write{fromClient, append([]byte(nil), b...)})
		rec.mu.Unlock()
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			to := client
			mu.Unlock()
			record(false, buf[:n])
			pc.WriteTo(buf[:n], to)
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil // closed: the client is done
		}
		mu.Lock()
		client = from
		mu.Unlock()
		record(true, buf[:n])
		s.Write(buf[:n])
	}
}

// relay accepts one connection on ln, connects it to addr and copies both
// ways until both are done, recording each read.
func relay(ln net.Listener, addr string, rec *recorder) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer s.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn, fromClient bool) {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				rec.mu.Lock()
				rec.writes = append(rec.writes, Write{fromClient, append([]byte(nil), buf[:n]...)})
				_, werr := dst.Write(buf[:n])
				rec.mu.Unlock()
				if werr != nil {
					return
				}
			}
			if err != nil {
				dst.(*net.TCPConn).CloseWrite()
				return
			}
		}
	}
	wg.Add(2)
	go pipe(s, c, true)
	go pipe(c, s, false)
	wg.Wait()
	return nil
}

// typingDelay is the time between lines typed into a command: a
// handshake on loopback is done well within it.
const typingDelay = 300 * time.Millisecond

// Typed is a client's input as a person would type it: each line a
// moment after the one before (an OpenSSL client reads a line alone as
// its command), then its end, a moment after the last.
func Typed(lines ...string) io.Reader {
	r, w := io.Pipe()
	go func() {
		for _, l := range lines {
			io.WriteString(w, l+"\n")
			time.Sleep(typingDelay)
		}
		w.Close()
	}()
	return r
}
