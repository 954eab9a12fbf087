# shellcheck shell=bash
# infra/lab/scenarios/selftest.sh — a scenario that fails on purpose, to prove cleanup works
# (record.sh selftest-fail must exit 1 and leave nothing behind)
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

hidden_scenario selftest/selftest-fail nginx curl

scn_selftest_selftest_fail() {
	pair 198.18.9
	start_nginx "$SRV_IP" 8080
	lab_capture_start srv eth0 "$PCAP"
	c_curl "http://$SRV_IP:8080/index.html"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "gopher" 'gopher://' # there is none: this scenario fails on purpose
}

