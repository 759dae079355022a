#!/bin/sh
# mkdatadir.sh BINARY OUT.tar.gz: make a small, real node data directory
# with a release's porchlight binary, for the migration tests
# (store/schema_test.go, TestMigrate*). It uses every table of both
# databases: an agency credential from a trusted issuer and a request
# (this home is the agency too), posts, a post with a clip (a grant to the
# whole neighborhood), a clip shared with a neighbor that is offline (a
# grant still in the outbox), and the access log stays empty (no fetch).
#
# To add the fixture of a new schema version, build the release that
# writes it and run, from the repository root:
#
#	go build -o /tmp/porchlight ./cmd/porchlight
#	sh store/testdata/mkdatadir.sh /tmp/porchlight store/testdata/v<N>.tar.gz
#
# The archive holds data/ (the home's data directory) and facts.txt (the
# IDs the tests look for).
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
p() { "$bin" --data "$work/data" "$@"; }
api=127.0.0.1:$((20000 + $$ % 20000))

"$bin" issuer init --out issuer.key >issuer.out
issuer=$(tail -n 1 issuer.out | awk '{print $NF}')
p init --name "12 Maple St" --neighborhood maple-st --location 40.7128,-74.0060 \
	--api "$api" --listen /ip4/127.0.0.1/tcp/0 --trust-issuer "$issuer" >init.out
# The neighbor is offline: any peer ID will do, and an issuer key has one.
"$bin" issuer init --out neighbor.key >neighbor.out
neighbor=$(tail -n 1 neighbor.out | awk '{print $NF}')

"$bin" --data "$work/data" run --no-mdns >run.log 2>&1 &
pid=$!
i=0
until p status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat run.log; exit 1; }
	sleep 0.1
done
self=$(p status --json | tr -d '\n ' | sed -n 's/.*"peer_id":"\([^"]*\)".*/\1/p')

"$bin" issuer certify --key issuer.key --agency "$self" --name "Maple PD" \
	--jurisdiction circle:40.7128,-74.0060,5000 --valid 3650d --out pd.credential >/dev/null
p agency credential pd.credential >/dev/null
from=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
p request create --case 2026-1 --incident "package theft" --area circle:40.7128,-74.0060,300 \
	--from "$from" --to "$to" --contact "desk 555-0100" --description "porch camera" >req.out 2>&1 ||
	{ cat req.out; exit 1; }
req=$(tail -n 1 req.out | awk '{print $NF}')

# A clip: an MP4 header, then bytes that compress well.
printf '\000\000\000\030ftypisom\000\000\002\000isomiso2' >front-door-2026-11-27T19-42-10Z.mp4
head -c 200000 /dev/zero | tr '\000' 'x' >>front-door-2026-11-27T19-42-10Z.mp4
clip=$(p clips import front-door-2026-11-27T19-42-10Z.mp4 --camera front-door | tail -n 1 | awk '{print $NF}')
post1=$(p post "Lost grey cat near the park" --kind lost-found | tail -n 1 | awk '{print $NF}')
post2=$(p post "Package thief on camera" --kind safety --clip "$clip" | tail -n 1 | awk '{print $NF}')
grant=$(p share --to "$neighbor" --clips "$clip" --expires 3650d --yes | tail -n 1 | awk '{print $NF}')

kill -TERM "$pid"
wait "$pid" || true
pid=
cat >facts.txt <<FACTS
self $self
issuer $issuer
neighbor $neighbor
request $req
clip $clip
post $post1
post $post2
grant $grant
FACTS
rm -f data/*.log
tar -czf "$out" data facts.txt
