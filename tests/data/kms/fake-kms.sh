#!/usr/bin/env bash
# A stand-in KMS for tests of `kek_command` (docs/protection.md): the "KMS key"
# is the hex AES-256 key given as the first argument and never leaves this
# script's process. Usage: fake-kms.sh <key-hex> fingerprint|wrap|unwrap
# (request JSON on stdin, answer JSON on stdout).
set -euo pipefail
key="$1"
op="$2"
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
case "$op" in
fingerprint)
    printf '{"fingerprint": "fake-kms:%s"}\n' "$(printf %s "$key" | sha256sum | cut -c1-16)"
    ;;
wrap)
    data=$(field data)
    iv=$(openssl rand -hex 16)
    ct=$(printf %s "$data" | base64 -d | openssl enc -aes-256-cbc -K "$key" -iv "$iv" | base64 -w0)
    printf '{"data": "%s.%s"}\n' "$iv" "$ct"
    ;;
unwrap)
    wrapped=$(field data)
    iv=${wrapped%%.*}
    plain=$(printf %s "${wrapped#*.}" | base64 -d | openssl enc -d -aes-256-cbc -K "$key" -iv "$iv" 2>/dev/null | base64 -w0) \
        || { echo "fake-kms: the wrapped key does not decrypt under this key" >&2; exit 1; }
    printf '{"data": "%s"}\n' "$plain"
    ;;
*)
    echo "fake-kms: unknown operation '$op'" >&2
    exit 2
    ;;
esac
