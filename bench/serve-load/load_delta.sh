#!/bin/bash
# load2.sh N: serve BASE DELTA, N GETs at once of the delta layer, a config GET every 0.2 s,
# TMPDIR use sampled every 0.1 s; peak RSS from /usr/bin/time -v.
set -u
W=${W:-/tmp/s31}; N=$1
BIN=${BIN:-$(dirname "$0")/../../target/release/bundle}
PORT=$((20000 + RANDOM % 10000)); A=127.0.0.1:$PORT
read -r L SZ CFG < <(W=$W python3 -c 'import json,os;d=json.load(open(os.environ["W"]+"/delta.json"));c=json.load(open(os.environ["W"]+"/digests.json"));print(d["layer"],d["size"],c["config"])')
export TMPDIR=$W/tmp; rm -rf $TMPDIR; mkdir -p $TMPDIR
OUT=$W/delta-$N; rm -rf $OUT; mkdir -p $OUT
/usr/bin/time -v $BIN serve $W/compact.bundle $W/delta.bundle --allow-unsigned --listen $A -v 2> $OUT/serve.err &
TPID=$!
for i in $(seq 100); do curl -s -o /dev/null http://$A/v2/ && break; sleep 0.1; done
( while [ ! -e $OUT/stop ]; do du -sb $TMPDIR | cut -f1 >> $OUT/tmp.txt; sleep 0.1; done ) &
DP=$!
( while [ ! -e $OUT/stop ]; do curl -s -o /dev/null -w "%{http_code} %{size_download} %{time_total}\n" http://$A/v2/bench/app/blobs/$CFG >> $OUT/config.txt; sleep 0.2; done ) &
CP=$!
START=$(date +%s.%N)
for i in $(seq $N); do
  ( r=$(curl -s --max-time 600 -o /dev/null -w "%{http_code} %{size_download} %{time_total}" http://$A/v2/bench/app/blobs/$L); echo "$r" >> $OUT/whole.txt ) &
done
while [ $(wc -l < $OUT/whole.txt 2>/dev/null || echo 0) -lt $N ]; do sleep 0.2; done
END=$(date +%s.%N)
touch $OUT/stop; wait $CP $DP
kill -INT $(pgrep -P $TPID); wait $TPID
echo "delta layer: $N GETs; wall $(echo "$END - $START" | bc) s"
echo "whole: $(awk -v s=$SZ '!($1==200 && $2==s)' $OUT/whole.txt | wc -l) of $N not 200 with every byte; slowest $(awk '{print $3}' $OUT/whole.txt | sort -n | tail -1) s"
echo "config: $(wc -l < $OUT/config.txt) GETs, $(awk '!($1==200 && $2>0)' $OUT/config.txt | wc -l) bad, slowest $(awk '{print $3}' $OUT/config.txt | sort -n | tail -1) s"
echo "rebuilds started: $(grep -c 'serve: rebuilding' $OUT/serve.err); TMPDIR peak $(sort -n $OUT/tmp.txt | tail -1) bytes"
grep -E "Maximum resident|Elapsed|Percent of CPU" $OUT/serve.err
