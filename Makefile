# tlssniff: make demo runs it on the bundled samples, make test passes the
# tests. Both need only Go; the module proxy supplies the rest. With
# libpcap's headers (Debian libpcap-dev) the build can also capture live;
# without them it is built without cgo and reads files only.
GO       ?= go
BIN      := tlssniff
CGO      := $(if $(wildcard /usr/include/pcap.h /usr/include/pcap/pcap.h),1,0)
export CGO_ENABLED ?= $(CGO)
FUZZTIME ?= 60s
BENCH       := bench/bulk-1024.pcap
BENCH_SMALL := bench/bulk-100.pcap
BENCH_DENSE := bench/dense-100.pcap
MIX         := bench/mix-1024.pcap
MIX_SMALL   := bench/mix-100.pcap
MIX_HUGE    := bench/mix-200k.pcap

.PHONY: build demo report test lint bench pgo attacks load fuzz mutants samples clean

build:
	@[ "$(CGO_ENABLED)" = 1 ] || echo "make: no libpcap headers: building without live capture (apt-get install libpcap-dev for it)"
	$(GO) build -o $(BIN) ./cmd/tlssniff

demo: build
	@echo '$$ tlssniff -r samples/*.pcap*'
	@./$(BIN) $(patsubst %,-r %,$(wildcard samples/*.pcap samples/*.pcapng))
	@echo
	@echo '$$ tlssniff -r samples/openssl.pcap --ladder --port 59756'
	@./$(BIN) -r samples/openssl.pcap --ladder --port 59756
	@echo
	@echo '$$ tlssniff -r samples/*.pcap* --summary'
	@./$(BIN) $(patsubst %,-r %,$(wildcard samples/*.pcap samples/*.pcapng)) --summary
	@echo
	@echo '$$ tlssniff -r samples/tls13-hrr.pcap --json'
	@./$(BIN) -r samples/tls13-hrr.pcap --json

# The HTML report of every sample, and a screenshot of it from headless
# Chromium (Debian's chromium package), kept off the network.
report: build
	@mkdir -p out
	./$(BIN) $(patsubst %,-r %,$(wildcard samples/*.pcap samples/*.pcapng)) --summary --html out/samples.html >/dev/null
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$(mktemp -d) --window-size=1280,4000 \
		--screenshot=$(CURDIR)/out/samples.png "file://$(CURDIR)/out/samples.html#sort=handshake&desc=1" 2>/dev/null
	@echo "report: out/samples.html, screenshot: out/samples.png"

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The contract copy and the generated names up to date, the tests, the
# fuzz seed corpora, the concurrent parts again under the race detector,
# and a build without cgo: it must read files and refuse -i with a clear
# message.
test: lint
	[ ! -f ../shared/CONTRACT.md ] || cmp docs/CONTRACT.md ../shared/CONTRACT.md
	$(GO) generate ./parser && git diff --exit-code -- parser/names_gen.go
	$(GO) test -count=1 ./...
	[ "$(CGO_ENABLED)" != 1 ] || $(GO) test -count=1 -race -run 'Workers|CountAndDuration|Live|Pipe' ./cmd/tlssniff
	CGO_ENABLED=0 $(GO) build -o $(BIN)-nocgo ./cmd/tlssniff
	./$(BIN)-nocgo -r samples/tls12.pcap | grep -q tls12.example.test
	./$(BIN)-nocgo -i lo 2>&1 | grep -q 'live capture and -f need libpcap'; \
		code=$$(./$(BIN)-nocgo -i lo >/dev/null 2>&1; echo $$?); test $$code = 2
	rm -f $(BIN)-nocgo

bench/bulk-%.pcap bench/bulk-%.keys:
	@mkdir -p $(dir $@)
	$(GO) run ./samples/gen -bulk bench/bulk-$*.pcap -size $* -keylog bench/bulk-$*.keys

# Many short connections: 4 KiB answers, over 100,000 connections a GB.
bench/dense-%.pcap bench/dense-%.keys:
	@mkdir -p $(dir $@)
	$(GO) run ./samples/gen -bulk bench/dense-$*.pcap -size $* -response 4096 -keylog bench/dense-$*.keys

# Web traffic as a capture point sees it (samples/gen/mix.go): 1 GB and
# 100 MB of it, over 20,000 connections a GB, and 200,000 connections
# replaying 20,000 sessions, for the time per connection at every size.
bench/mix-1024.pcap bench/mix-1024.keys:
	@mkdir -p $(dir $@)
	$(GO) run ./samples/gen -mix bench/mix-1024.pcap -size 1024 -conns 20000 -keylog bench/mix-1024.keys
bench/mix-100.pcap:
	@mkdir -p $(dir $@)
	$(GO) run ./samples/gen -mix $@ -size 100 -conns 2000
bench/mix-200k.pcap:
	@mkdir -p $(dir $@)
	$(GO) run ./samples/gen -mix $@ -size 1 -conns 200000 -pool 20000

# Speed and memory on generated captures of real crypto/tls connections,
# each figure from one run: on the mixed capture (1 GB) and the bulk one
# (1 GiB), the full pipeline against a bare pcapgo + DecodingLayerParser
# read loop for NDJSON, the summary and the table, with one worker and
# one per CPU, and their allocations, CPU and wall time per connection;
# peak RSS of every view on both sizes of each; the time per connection
# at 2,000, 20,000 and 200,000 connections; the time with the clients' key
# log (every handshake decrypted) against without; and tshark on the same
# file when it is installed. Each ratio's times are the best of five rounds
# of every benchmark, read loop included, so that a busy minute on a shared
# machine does not fall on one of them alone (single runs' ratios ranged
# from 2.3x to 4.0x); the other times and every peak RSS are the median of
# three runs (internal/measure). Each round also times a cache line's
# round trip between two cores (BenchmarkCoreRoundTrip), and the read loop
# on each CPU alone (BenchmarkPinnedReadLoop): the pipeline's ratios follow
# the round trip and the slower CPU, the read loop's time neither.
bench: build $(BENCH) $(BENCH_SMALL) $(BENCH:.pcap=.keys) $(BENCH_DENSE) $(BENCH_DENSE:.pcap=.keys) $(MIX) $(MIX_SMALL) $(MIX_HUGE)
	@for f in $(MIX) $(BENCH); do \
		rm -f bench/result-$$(basename $$f .pcap).txt; \
		for i in 1 2 3 4 5; do \
			TLSSNIFF_BENCH_FILE=$(CURDIR)/$$f $(GO) test -run '^$$' -bench 'ReadLoop|CoreRoundTrip|Pipeline' -benchtime 1x \
				./capture ./cmd/tlssniff >> bench/result-$$(basename $$f .pcap).txt; \
		done; \
		awk -v f=$$f '/^BenchmarkReadLoop/ && (r == 0 || $$3 < r) {r=$$3} \
			/^BenchmarkCoreRoundTrip/ {rt=$$5; if (lo == 0 || rt < lo) lo=rt; if (rt > hi) hi=rt} \
			/^BenchmarkPinnedReadLoop/ {split($$1, c, "[=-]"); t=$$3/1e6; if (!(c[2] in pin)) {pc[++np]=c[2]; plo[c[2]]=t}; \
				pin[c[2]]=t; if (t < plo[c[2]]) plo[c[2]]=t; if (t > phi[c[2]]) phi[c[2]]=t} \
			/^BenchmarkPipeline/ {split($$1, n, "-"); if (!(n[1] in v)) o[++k]=n[1]; \
				if (!(n[1] in v) || $$3 < v[n[1]]) {v[n[1]]=$$3; s=rt == "" ? "" : sprintf("its round trip took %.0f ns", rt); \
					for (j=1; j<=np; j++) s=s sprintf("%s%.0f", j == 1 ? (s == "" ? "" : ", ") "the read loop alone on each CPU " : " and ", pin[pc[j]]); \
					m[n[1]]=s == "" ? "" : " (in a round where " s (np > 0 ? " ms" : "") ")"; \
					for (i=5; i<NF; i+=2) m[n[1]]=m[n[1]] sprintf(", %s %s", $$i, $$(i+1))}} \
			END {printf "%s: the read loop %.0f ms", f, r/1e6; \
				if (hi > 0) printf "; a cache line between the cores and back %.0f to %.0f ns over the rounds", lo, hi; \
				for (j=1; j<=np; j++) printf "%s%s %.0f to %.0f ms", j == 1 ? "; the read loop alone on each CPU over the rounds: " : ", ", "cpu " pc[j], plo[pc[j]], phi[pc[j]]; \
				printf "\n"; for (i=1; i<=k; i++) {name=o[i]; sub("BenchmarkPipeline/", "", name); \
				printf "%s %s: %.2fx the read loop%s\n", f, name, v[o[i]]/r, m[o[i]]}}' bench/result-$$(basename $$f .pcap).txt; \
	done
	@echo "targets on $(MIX): json/workers=1 2.5x, summary/workers=1 2.0x, workers=CPUs 1.6x, 80 allocs/conn"
	@for view in json table csv ladder summary; do \
		small=$$($(GO) run ./internal/measure ./$(BIN) -r $(MIX_SMALL) --format $$view); \
		big=$$($(GO) run ./internal/measure ./$(BIN) -r $(MIX) --format $$view); \
		echo "$$small $$big" | awk -v v=$$view '{printf "peak RSS, %s: %.1f MiB on $(MIX_SMALL), %.1f MiB on $(MIX): %.2fx (targets 64 MiB, 1.25x)\n", v, $$2, $$4, $$4/$$2}'; \
	done
	@for f in $(MIX_SMALL) $(MIX) $(MIX_HUGE); do \
		n=$$(./$(BIN) -r $$f --json | wc -l); \
		for view in json summary; do \
			t=$$($(GO) run ./internal/measure ./$(BIN) -r $$f --format $$view); \
			echo "$$t $$n" | awk -v f=$$f -v v=$$view '{printf "%s, %s: %d connections, %.1f us each, %.1f MiB\n", f, v, $$3, $$1*1e6/$$3, $$2}'; \
		done; \
	done
	@big=$$($(GO) run ./internal/measure ./$(BIN) -r $(BENCH) --json); \
	small=$$($(GO) run ./internal/measure ./$(BIN) -r $(BENCH_SMALL) --json); \
	echo "$$small $$big" | awk '{printf "peak RSS: %.1f MiB on %s, %.1f MiB on %s: %.2fx growth (targets 100 MiB, 1.5x)\n", $$4, "$(BENCH)", $$2, "$(BENCH_SMALL)", $$4/$$2}'; \
	for f in $(BENCH) $(BENCH_DENSE); do \
		plain=$$($(GO) run ./internal/measure ./$(BIN) -r $$f --json); \
		keyed=$$($(GO) run ./internal/measure ./$(BIN) -r $$f --json --keylog $${f%.pcap}.keys); \
		target="target 1.3x at most"; [ $$f = $(BENCH) ] || target="issue 14's target is on $(BENCH) only"; \
		echo "$$plain $$keyed" | awk -v f=$$f -v t="$$target" '{printf "%s with a key log for every connection: %.2fx the time without (%s)\n", f, $$3/$$1, t}'; \
	done; \
	if command -v tshark >/dev/null; then \
		t=$$($(GO) run ./internal/measure tshark -r $(BENCH) -Y tls.handshake.type==1 -T fields \
			-e tls.handshake.extensions_server_name 2>/dev/null); \
		echo "$$t $$big" | awk '{printf "tshark %.2f s, tlssniff %.3f s: %.0fx faster (target 20x)\n", $$1, $$3, $$1/$$3}'; \
	fi

# The CPU profile that go build and go test take for profile-guided
# optimization (cmd/tlssniff/default.pgo, found there on their own): NDJSON,
# the summary and the table with one worker on the mixed capture of make
# bench (web traffic, 21,800 connections a GB) and on the bulk one (976
# connections in 1.03 GiB), so that neither many short connections nor long
# transfers are left out. Made again when the hot code changes much; a
# stale profile still builds, and optimizes less.
pgo: $(MIX) $(BENCH)
	@rm -rf bench/pgo && mkdir -p bench/pgo
	@for f in $(MIX) $(BENCH); do for view in json summary table; do \
		TLSSNIFF_BENCH_FILE=$(CURDIR)/$$f $(GO) test -run '^$$' -bench "Pipeline/$$view/workers=1$$" -benchtime 3x \
			-o bench/pgo/tlssniff.test -cpuprofile bench/pgo/$$(basename $$f .pcap)-$$view.prof ./cmd/tlssniff >/dev/null || exit 1; \
	done; done
	$(GO) tool pprof -proto bench/pgo/*.prof > cmd/tlssniff/default.pgo

# The hostile captures of cmd/tlssniff/attack_test.go at two sizes each (the
# second 4x the first): wall time and peak RSS of tlssniff under the default
# 256 MiB budget, and the budget's peak from -v.
attacks: build
	@mkdir -p bench/attacks
	TLSSNIFF_ATTACKS=$(CURDIR)/bench/attacks $(GO) test -count=1 -run TestWriteAttacks ./cmd/tlssniff
	@for f in bench/attacks/*.pcap*; do \
		r=$$($(GO) run ./internal/measure ./$(BIN) -r $$f --json -v 2>bench/attacks/v.txt); \
		printf '%-36s %5d MB  %6.3f s  %6.1f MiB RSS  budget %s\n' $$(basename $$f) $$(($$(stat -c %s $$f) / 1000000)) $$r \
			"$$(grep -m1 -o 'peak [0-9.]* MiB' bench/attacks/v.txt)"; \
	done

# Live capture under load (root): TLS 1.3 handshakes over loopback as fast
# as they go while tlssniff captures them; made vs reported, kernel drops.
load:
	$(GO) test -run '^$$' -bench LiveLoad -benchtime 5s ./cmd/tlssniff

FUZZ_TARGETS := parser:FuzzRecordLayer parser:FuzzConn parser:FuzzDecodeClientHello \
	parser:FuzzDecodeServerHello parser:FuzzDecodeCertificate parser:FuzzDistinguishedName parser:FuzzDecrypt reassembly:FuzzAssembler capture:FuzzDecode \
	capture:FuzzPlainTCP capture:FuzzDefrag capture:FuzzPcapng capture:FuzzPcapReader parser:FuzzQUICDatagrams parser:FuzzCryptoStream parser:FuzzDTLSFragments \
	parser:FuzzRecordStorm reorder:FuzzReorder report:FuzzAppendString report:FuzzAppendMilli export:FuzzExporter

# Every fuzz target for FUZZTIME each; crashers land in testdata/fuzz and
# become regression tests that go test replays. Go 1.26's coordinator can
# end a run at the FUZZTIME boundary with a bare "context deadline
# exceeded" and no input written (golang/go#75804, fixed in Go 1.27): such
# a run is tried once more; a written input always fails.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "== $$pkg $$name"; \
		for try in 1 2; do \
			$(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s >fuzz.log 2>&1; \
			status=$$?; tail -3 fuzz.log; [ $$status = 0 ] && break; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' fuzz.log && ! grep -q 'Failing input written' fuzz.log; then \
				echo "== $$name: the Go 1.26 fuzztime race, no input written: once more"; continue; fi; \
			cat fuzz.log; rm -f fuzz.log; exit 1; \
		done; \
	done; rm -f fuzz.log

# Mutation testing with gremlins (from the module proxy): each package's
# mutants against its own tests, every surviving one printed, then one line
# for all: "mutation score: K/N (P%)", killed over killed and lived
# (mutants no test covers are listed apart, as gremlins does). Takes tens
# of minutes on 2 cores.
GREMLINS := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTANT_PKGS := ./parser ./reassembly ./capture ./report ./budget ./reorder
mutants:
	@mkdir -p bench; rm -f bench/mutants.txt
	@for p in $(MUTANT_PKGS); do \
		echo "== $$p"; \
		$(GO) run $(GREMLINS) unleash --timeout-coefficient 10 --workers 2 -S lt $$p 2>&1 | tee -a bench/mutants.txt | \
			grep -E 'LIVED|TIMED OUT|Killed:|Timed out:|Test efficacy'; \
	done
	@awk '/^Killed:/ {gsub(",", ""); k += $$2; l += $$4} \
		END {if (k + l) printf "mutation score: %d/%d (%.1f%%)\n", k, k + l, 100 * k / (k + l)}' bench/mutants.txt

# Regenerates samples/ from real TLS stacks (needs root, tcpdump, openssl,
# gnutls-bin); review the golden diffs after.
samples:
	bash samples/make.sh
	$(GO) test ./cmd/tlssniff -run TestGolden -update

clean:
	rm -rf $(BIN) bench out
