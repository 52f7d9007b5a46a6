#!/usr/bin/env bash
# Makes the samples/ captures. The Go crypto/tls ones come from samples/gen;
# the others are real OpenSSL and GnuTLS handshakes on loopback, captured by
# tcpdump. Needs root (for tcpdump and a network namespace), openssl,
# gnutls-bin, tcpdump, python3 and curl.
# Run from the repository root: bash samples/make.sh [SECTION ...], where
# a section is one of gen openssl dtls 0rtt gnutls tfo failures delays (all by
# default): each makes its own captures, so that one can be made again
# without changing the others.
set -euo pipefail
cd "$(dirname "$0")/.."
out=samples
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" ${tcpdump_pid:-} ${client_dump:-} 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

section_gen() { go run ./samples/gen -samples "$out"; }

# A private CA, a server certificate for localhost and a client certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tlssniff sample CA" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$who.localhost" -keyout "$work/$who.key" -out "$work/$who.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,DNS:%s.localhost\n' "$who" > "$work/$who.ext"
  openssl x509 -req -in "$work/$who.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 3650 -extfile "$work/$who.ext" -out "$work/$who.crt" 2>/dev/null
done

# capture IFACE FILE FILTER: starts tcpdump and waits until it listens.
capture() {
  tcpdump -i "$1" --immediate-mode -U -w "$2" "$3" 2>"$work/tcpdump.log" &
  tcpdump_pid=$!
  for _ in $(seq 50); do grep -q listening "$work/tcpdump.log" 2>/dev/null && return; sleep 0.1; done
}
stop_capture() { sleep 1; kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" || true; }
wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; }

# OpenSSL: TLS 1.3, TLS 1.2, and TLS 1.2 with a client certificate (mutual TLS).
section_openssl() {
capture lo "$out/openssl.pcap" "tcp port 44330 or tcp port 44332"
openssl s_server -quiet -accept 44330 -cert "$work/server.crt" -key "$work/server.key" -www >/dev/null 2>&1 &
pids+=($!)
openssl s_server -quiet -accept 44332 -cert "$work/server.crt" -key "$work/server.key" \
  -CAfile "$work/ca.crt" -Verify 1 -www >/dev/null 2>&1 &
pids+=($!)
wait_port 44330; wait_port 44332
for v in -tls1_3 -tls1_2; do
  printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -quiet -connect 127.0.0.1:44330 -servername server.localhost \
    -CAfile "$work/ca.crt" -alpn h2,http/1.1 "$v" >/dev/null 2>&1 || true
done
printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -quiet -connect 127.0.0.1:44332 -servername server.localhost \
  -CAfile "$work/ca.crt" -cert "$work/client.crt" -key "$work/client.key" -tls1_2 >/dev/null 2>&1 || true
stop_capture
}

# OpenSSL DTLS 1.2 over UDP; -listen makes the server answer the first
# ClientHello with a HelloVerifyRequest and its cookie.
section_dtls() {
capture lo "$out/openssl-dtls.pcap" "udp port 44350"
openssl s_server -dtls1_2 -listen -quiet -accept 44350 -cert "$work/server.crt" -key "$work/server.key" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
(echo hello; sleep 0.5) | timeout 5 openssl s_client -dtls1_2 -connect 127.0.0.1:44350 -servername server.localhost \
  -CAfile "$work/ca.crt" -quiet >/dev/null 2>&1 || true
stop_capture
}

# OpenSSL 0-RTT: a first connection saves the session, the second resumes it
# and sends its request as early data.
section_0rtt() {
capture lo "$out/openssl-0rtt.pcap" "tcp port 44340"
openssl s_server -quiet -accept 44340 -cert "$work/server.crt" -key "$work/server.key" \
  -early_data -max_early_data 16384 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
printf 'GET / HTTP/1.0\r\n\r\n' > "$work/request"
echo Q | openssl s_client -quiet -connect 127.0.0.1:44340 -sess_out "$work/session.pem" >/dev/null 2>&1 || true
(cat "$work/request"; sleep 0.5) | openssl s_client -connect 127.0.0.1:44340 -sess_in "$work/session.pem" \
  -early_data "$work/request" >/dev/null 2>&1 || true
stop_capture
}

# GnuTLS, captured on the "any" pseudo-interface: Linux SLL2 framing.
section_gnutls() {
capture any "$out/gnutls-sll2.pcap" "tcp port 44331"
gnutls-serv --port 44331 --x509certfile "$work/server.crt" --x509keyfile "$work/server.key" >/dev/null 2>&1 &
pids+=($!)
wait_port 44331
for prio in "NORMAL:-VERS-ALL:+VERS-TLS1.3" "NORMAL:-VERS-ALL:+VERS-TLS1.2"; do
  echo | gnutls-cli --port 44331 --x509cafile "$work/ca.crt" --sni-hostname server.localhost \
    --priority "$prio" localhost >/dev/null 2>&1 || true
done
stop_capture
}

# TCP Fast Open (RFC 7413), in a network namespace of its own so that the
# sysctls stay there. The first connection asks for a cookie; the second
# sends its ClientHello in the SYN, accepted; the third's cookie no longer
# fits after a key change: the server acknowledges its SYN only, and curl
# sends the ClientHello again after the handshake. The server is Python's
# ssl module on a TCP_FASTOPEN listener.
section_tfo() {
ns=tlssniff-tfo
ip netns add $ns
trap 'cleanup; ip netns del $ns' EXIT
ip netns exec $ns ip link set lo up
ip netns exec $ns sysctl -qw net.ipv4.tcp_fastopen=3
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=tfo.localhost \
  -keyout "$work/tfo.key" -out "$work/tfo.crt" 2>/dev/null
cat > "$work/tfo.py" <<PY
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("$work/tfo.crt", "$work/tfo.key")
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
s.bind(("127.0.0.1", 44350))
s.listen(8)
for _ in range(3):
    c, _ = s.accept()
    t = ctx.wrap_socket(c, server_side=True)
    t.recv(100)
    t.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
    t.close()
PY
ip netns exec $ns tcpdump -i lo --immediate-mode -U -w "$out/tcp-fast-open.pcap" "tcp port 44350" 2>"$work/tcpdump.log" &
tcpdump_pid=$!
for _ in $(seq 50); do grep -q listening "$work/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
ip netns exec $ns python3 "$work/tfo.py" &
pids+=($!)
sleep 0.5
for key in 0 0 1; do
  ip netns exec $ns sysctl -qw net.ipv4.tcp_fastopen_key=00000000-00000000-00000000-0000000$key
  ip netns exec $ns curl -sk --tcp-fastopen --tls-max 1.2 https://127.0.0.1:44350/ -o /dev/null
done
stop_capture
ip netns del $ns
trap cleanup EXIT
}

# Failed handshakes, one connection per reason (parser/doc.go, "Why a
# handshake failed"), between curl and OpenSSL's s_server or Python's ssl
# (both OpenSSL 3.0): certificates of the sample CA with chosen dates
# (openssl ca takes them) — one expired, one expiring ten days after the
# capture —; a client without the CA (unknown_ca); a name the certificate
# does not cover (curl checks it after the handshake and closes); no
# shared cipher suite; a client certificate required and not sent; a
# server that does not know the SNI (unrecognized_name) and one that closes
# after the ClientHello; a client that resets while the server is silent;
# a TLS 1.2 retry with TLS_FALLBACK_SCSV (inappropriate_fallback); and
# the client certificate required over TLS 1.3, refused after the
# client's Finished; a TLS-PSK client whose key is not the server's
# (bad_record_mac). curl's key log is failures.keys.
section_failures() {
mkdir -p "$work/db"; : > "$work/db/index"; echo 01 > "$work/db/serial"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = sample
[sample]
database = $work/db/index
serial = $work/db/serial
new_certs_dir = $work/db
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
now=$(date -u +%Y%m%d%H%M%SZ) # not before the CA: a chain is built at a time all its certificates are valid
for c in "expired.localhost 20250101000000Z 20260101000000Z" \
  "soon.localhost $now $(date -u -d '+10 days' +%Y%m%d%H%M%SZ)" \
  "valid.localhost $now 20360101000000Z"; do
  set -- $c
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
    -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
  openssl ca -batch -config "$work/ca.cnf" -cert "$work/ca.crt" -keyfile "$work/ca.key" -in "$work/$1.csr" \
    -out "$work/$1.crt" -startdate "$2" -enddate "$3" -notext 2>/dev/null
done
cat > "$work/failing.py" <<PY
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("$work/valid.localhost.crt", "$work/valid.localhost.key")
ctx.sni_callback = lambda sock, name, c: None if name == "valid.localhost" else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
listeners = []
for port in (44365, 44366, 44367):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(8)
    listeners.append(s)
c, _ = listeners[0].accept()
try:
    ctx.wrap_socket(c, server_side=True)
except ssl.SSLError:
    pass
c.close()
c, _ = listeners[1].accept()
c.recv(4096)
c.close()
c, _ = listeners[2].accept()  # never answers: the client gives up first
c.recv(4096)
c.settimeout(2)
try:
    c.recv(4096)
except OSError:
    pass
PY
cat > "$work/impatient.py" <<'PY'
import socket, ssl, struct, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
s = socket.create_connection(("127.0.0.1", 44367))
t = ctx.wrap_socket(s, server_hostname="valid.localhost", do_handshake_on_connect=False)
t.setblocking(False)
try:
    t.do_handshake()  # sends the ClientHello
except ssl.SSLWantReadError:
    pass
time.sleep(0.2)
t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
t.close()  # an RST
PY
cp "$work/ca.crt" "$out/failures-ca.pem"
capture lo "$out/failures.pcap" "tcp portrange 44360-44369"
serve() { local port=$1 name=$2; shift 2
  openssl s_server -quiet -www -accept "$port" -cert "$work/$name.crt" -key "$work/$name.key" "$@" >/dev/null 2>&1 &
  pids+=($!)
}
serve 44360 expired.localhost
serve 44361 valid.localhost
serve 44362 soon.localhost
serve 44363 valid.localhost -tls1_2 -cipher AES128-SHA
serve 44364 valid.localhost -CAfile "$work/ca.crt" -Verify 1
serve 44368 valid.localhost
openssl s_server -quiet -accept 44369 -nocert -psk 0102030405 -tls1_2 -cipher PSK-AES128-GCM-SHA256 >/dev/null 2>&1 &
pids+=($!)
python3 "$work/failing.py" 2>"$work/failing.log" &
pids+=($!)
for port in $(seq 44360 44364) 44368 44369; do wait_port $port; done
sleep 0.5 # Python's listeners take one connection each: not probed
rm -f "$out/failures.keys"
get() { SSLKEYLOGFILE="$out/failures.keys" curl -s -o /dev/null --connect-to "::127.0.0.1:" "$@" || true; }
trusting() { get --cacert "$work/ca.crt" "$@"; }
trusting --tls-max 1.2 https://expired.localhost:44360/
trusting https://expired.localhost:44360/
get --tls-max 1.2 https://valid.localhost:44361/
trusting --tls-max 1.2 https://other.localhost:44361/
trusting --tls-max 1.2 https://soon.localhost:44362/
trusting --tls-max 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384 https://valid.localhost:44363/
trusting --tls-max 1.2 https://valid.localhost:44364/
trusting https://valid.localhost:44364/
trusting https://unknown.localhost:44365/
trusting https://valid.localhost:44366/
python3 "$work/impatient.py"
# a client that retries at TLS 1.2 with TLS_FALLBACK_SCSV, as after a failed TLS 1.3 attempt
openssl s_client -connect 127.0.0.1:44368 -servername valid.localhost -tls1_2 -fallback_scsv </dev/null >/dev/null 2>&1 || true
# a pre-shared key that is not the server's: its Finished does not open (bad_record_mac)
openssl s_client -connect 127.0.0.1:44369 -psk 0a0b0c0d0e -tls1_2 -cipher PSK-AES128-GCM-SHA256 </dev/null >/dev/null 2>&1 || true
stop_capture
}

# Slow handshakes and why (parser/doc.go, "Where the time went"): two
# network namespaces joined by a delay line, a Python relay between two TUN
# devices that holds every packet 25 ms each way (a 50 ms round trip; the
# kernel has no netem here) and drops the server's first segment of data
# on port 44373; the server's routes start with a congestion window of 4
# segments. curl (OpenSSL 3.0) meets a Python server that takes 300 ms
# before its ServerHello, OpenSSL with a 7 kB certificate chain over TLS
# 1.2, OpenSSL taking P-256 only (a HelloRetryRequest for curl's X25519
# key share), OpenSSL behind the lost segment, a Python client that
# thinks 200 ms before its Finished, and a client that connects twice
# without resuming, then twice resuming. tcpdump captures both ends:
# delays.pcap near the client, delays-server.pcap near the server.
section_delays() {
for ns in tlssniff-c tlssniff-s; do ip netns add $ns; ip -n $ns link set lo up; done
trap 'cleanup; ip netns del tlssniff-c; ip netns del tlssniff-s' EXIT
ip -n tlssniff-c tuntap add dev tsc mode tun; ip -n tlssniff-s tuntap add dev tss mode tun
ip -n tlssniff-c addr add 10.9.0.1/24 dev tsc; ip -n tlssniff-s addr add 10.9.0.2/24 dev tss
ip -n tlssniff-c link set tsc up; ip -n tlssniff-s link set tss up
ip -n tlssniff-s route replace 10.9.0.0/24 dev tss initcwnd 4
cat > "$work/relay.py" <<'PY'
import ctypes, fcntl, heapq, os, select, struct, sys, time
TUNSETIFF, IFF_TUN, IFF_NO_PI, CLONE_NEWNET = 0x400454CA, 0x0001, 0x1000, 0x40000000
def attach(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd
client = attach("tsc")
libc = ctypes.CDLL(None, use_errno=True)
if libc.setns(os.open("/var/run/netns/" + sys.argv[1], os.O_RDONLY), CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), "setns")
server = attach("tss")
one_way, drop_port, dropped = float(sys.argv[2]) / 2000, int(sys.argv[3]), False
queue, n = [], 0
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    for fd in select.select([client, server], [], [], timeout)[0]:
        pkt = os.read(fd, 65535)
        if not dropped and fd == server and pkt[0] >> 4 == 4 and pkt[9] == 6:
            ihl = (pkt[0] & 15) * 4
            if struct.unpack("!H", pkt[ihl:ihl + 2])[0] == drop_port and len(pkt) > ihl + (pkt[ihl + 12] >> 4) * 4:
                dropped = True
                continue
        n += 1
        heapq.heappush(queue, (time.monotonic() + one_way, n, client if fd == server else server, pkt))
    while queue and queue[0][0] <= time.monotonic():
        _, _, fd, pkt = heapq.heappop(queue)
        os.write(fd, pkt)
PY
ip netns exec tlssniff-c python3 "$work/relay.py" tlssniff-s 50 44373 >/dev/null 2>&1 &
pids+=($!)
# issue NAME ISSUER ca|leaf SANS KEY: a certificate of the sample CA's tree.
issue() {
  local ext="$work/$1.ext"
  if [ "$3" = ca ]; then printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n' > "$ext"
  else printf 'subjectAltName=%s\n' "$4" > "$ext"; fi
  openssl req -newkey "$5" -nodes -subj "/CN=$1" -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.crt" -CAkey "$work/$2.key" -CAcreateserial -days 3650 \
    -extfile "$ext" -out "$work/$1.crt" 2>/dev/null
}
issue inter1 ca ca "" rsa:4096
issue inter2 inter1 ca "" rsa:4096
issue bigchain.test inter2 leaf "DNS:bigchain.test$(for i in $(seq 150); do printf ',DNS:host%03d.bigchain.test' "$i"; done)" rsa:4096
issue small.test ca leaf "DNS:slow.test,DNS:hrr.test,DNS:lossy.test,DNS:think.test,DNS:again.test" ec:<(openssl ecparam -name prime256v1)
cat "$work/inter2.crt" "$work/inter1.crt" > "$work/chain.pem"
cat > "$work/slow.py" <<PY
import socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("$work/small.test.crt", "$work/small.test.key")
ctx.sni_callback = lambda sock, name, c: time.sleep(0.3)
s = socket.socket()
s.bind(("10.9.0.2", 44370))
s.listen(8)
c, _ = s.accept()
t = ctx.wrap_socket(c, server_side=True)
t.recv(100)
t.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
t.close()
PY
cat > "$work/think.py" <<'PY'
import select, socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
s = socket.create_connection(("10.9.0.2", 44375))
t = ctx.wrap_socket(s, server_hostname="think.test", do_handshake_on_connect=False)
t.setblocking(False)
waited = False
while True:
    try:
        t.do_handshake()
        break
    except ssl.SSLWantReadError:
        select.select([t], [], [])
        if not waited:  # the server's flight is here: think before answering it
            time.sleep(0.2)
            waited = True
t.setblocking(True)
t.sendall(b"GET / HTTP/1.0\r\n\r\n")
t.recv(100)
t.close()
PY
ip netns exec tlssniff-s python3 "$work/slow.py" &
pids+=($!)
serve() { local port=$1; shift
  ip netns exec tlssniff-s openssl s_server -quiet -www -accept "10.9.0.2:$port" "$@" >/dev/null 2>&1 &
  pids+=($!)
}
serve 44371 -cert "$work/bigchain.test.crt" -key "$work/bigchain.test.key" -cert_chain "$work/chain.pem"
small=(-cert "$work/small.test.crt" -key "$work/small.test.key")
serve 44372 "${small[@]}" -groups P-256
serve 44373 "${small[@]}"
serve 44374 "${small[@]}"
serve 44375 "${small[@]}" -tls1_2
sleep 1
ip netns exec tlssniff-c tcpdump -i tsc --immediate-mode -U -w "$out/delays.pcap" "tcp portrange 44370-44375" 2>"$work/tcpdump-c.log" &
client_dump=$!
ip netns exec tlssniff-s tcpdump -i tss --immediate-mode -U -w "$out/delays-server.pcap" "tcp portrange 44370-44375" 2>"$work/tcpdump.log" &
tcpdump_pid=$!
for _ in $(seq 50); do grep -q listening "$work/tcpdump.log" && grep -q listening "$work/tcpdump-c.log" && break; sleep 0.1; done
get() { ip netns exec tlssniff-c curl -s -o /dev/null -k --connect-to ::10.9.0.2: "$@" || true; }
get https://slow.test:44370/
get --tls-max 1.2 https://bigchain.test:44371/
get --curves X25519:P-256 https://hrr.test:44372/
get https://lossy.test:44373/
ip netns exec tlssniff-c python3 "$work/think.py"
get https://again.test:44374/
get https://again.test:44374/
get -H 'Connection: close' https://again.test:44374/ -o /dev/null https://again.test:44374/
sleep 1
kill -INT "$client_dump"; wait "$client_dump" || true
stop_capture
}

for s in "${@:-gen openssl dtls 0rtt gnutls tfo failures delays}"; do
  for name in $s; do "section_$name"; done
done
ls -l "$out"
