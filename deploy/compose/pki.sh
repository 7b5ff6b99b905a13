#!/bin/sh
# The compose stack's site PKI, in the `pki` volume: `pki.sh files` before etcd starts (CA,
# etcd's TLS files), `pki.sh issue` once it runs (auth on; central's, the operators' and
# the simulated detectors' certificates). Safe to run again.
set -eu
PKI=/var/lib/roadside-central/pki
CONF=/etc/roadside/central.yaml
case "$1" in
files)
  [ -f "$PKI/ca.pem" ] || roadside pki init --pki-dir "$PKI" --config "$CONF"
  roadside pki etcd --pki-dir "$PKI" --config "$CONF" --dns etcd1 --dns etcd2 --dns etcd3 ;;
issue)
  roadside pki etcd --enable-auth --pki-dir "$PKI" --config "$CONF"
  roadside pki issue central --dns central1 --dns central2 --dns localhost --ip 127.0.0.1 --pki-dir "$PKI" --config "$CONF"
  roadside pki issue operator desk --role analyst --out "$PKI/operators" --pki-dir "$PKI" --config "$CONF"
  roadside pki issue operator admin --role admin --out "$PKI/operators" --pki-dir "$PKI" --config "$CONF"
  for d in $DETECTORS; do
    roadside pki issue detector "$d" --out "$PKI/agents" --pki-dir "$PKI" --config "$CONF"
  done
  cp "$PKI/ca.pem" "$PKI/agents/ca.pem"
  cp "$PKI/ca.pem" "$PKI/operators/ca.pem" ;;
*) echo "usage: pki.sh files|issue" >&2; exit 2 ;;
esac
