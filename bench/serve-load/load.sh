#!/bin/bash
# load.sh N_WHOLE N_TAIL [extra serve args...]: serve the compact bundle under /usr/bin/time -v,
# N_WHOLE whole pulls (layers round-robin) and N_TAIL `Range: bytes=-1` requests at once, and a
# config GET every 0.2 s throughout; prints statuses, sizes, slowest config GET, peak RSS.
set -u
W=${W:-/tmp/s31}; N=$1; T=$2; shift 2
BIN=${BIN:-$(dirname "$0")/../../target/release/bundle}
PORT=$((20000 + RANDOM % 10000)); A=127.0.0.1:$PORT
read -r L0 L1 L2 CFG < <(W=$W python3 -c 'import json,os;d=json.load(open(os.environ["W"]+"/digests.json"));print(*d["layers"],d["config"])')
LAYERS=($L0 $L1 $L2)
declare -A SIZE
for l in "${LAYERS[@]}"; do SIZE[$l]=$(stat -c %s $W/layout/blobs/sha256/${l#sha256:}); done
OUT=$W/run-$N-$T; rm -rf $OUT; mkdir -p $OUT
/usr/bin/time -v $BIN serve $W/compact.bundle --allow-unsigned --listen $A -v "$@" 2> $OUT/serve.err &
TPID=$!
for i in $(seq 100); do curl -s -o /dev/null http://$A/v2/ && break; sleep 0.1; done
REPO=bench/app
( while [ ! -e $OUT/stop ]; do curl -s -o /dev/null -w "%{http_code} %{size_download} %{time_total}\n" http://$A/v2/$REPO/blobs/$CFG >> $OUT/config.txt; sleep 0.2; done ) &
CP=$!
START=$(date +%s.%N)
for i in $(seq $N); do l=${LAYERS[$((i % 3))]}
  ( r=$(curl -s --max-time 600 -o /dev/null -w "%{http_code} %{size_download} %{time_total}" http://$A/v2/$REPO/blobs/$l); echo "$r $l" >> $OUT/whole.txt ) &
done
for i in $(seq $T); do l=${LAYERS[$((i % 3))]}
  ( r=$(curl -s --max-time ${TAILMAX:-600} -H "Range: bytes=-1" -o /dev/null -w "%{http_code} %{size_download} %{time_total}" http://$A/v2/$REPO/blobs/$l); echo "$r $l" >> $OUT/tail.txt ) &
done
wait $(jobs -p | grep -v "^$CP$" | grep -v "^$TPID$") 2>/dev/null
while [ $(wc -l < $OUT/whole.txt 2>/dev/null || echo 0) -lt $N ] || [ $(wc -l < $OUT/tail.txt 2>/dev/null || echo 0) -lt $T ]; do sleep 0.5; done
END=$(date +%s.%N)
sleep ${AFTER:-0}; touch $OUT/stop; wait $CP
kill -INT $(pgrep -P $TPID) ; wait $TPID
echo "clients: $N whole, $T tail; wall $(echo "$END - $START" | bc) s"
bad=0; while read -r st sz t l; do if [ "$st" != 200 ] || [ "$sz" != "${SIZE[$l]:-x}" ]; then bad=$((bad+1)); fi; done < $OUT/whole.txt
echo "whole: $(wc -l < $OUT/whole.txt) answers, $bad not 200 with every byte; slowest $(awk '{print $3}' $OUT/whole.txt | sort -n | tail -1) s"
if [ $T -gt 0 ]; then badt=$(awk '!($1==206 && $2==1)' $OUT/tail.txt | wc -l); echo "tail: $(wc -l < $OUT/tail.txt) answers, $badt not 206 with 1 byte; slowest $(awk '{print $3}' $OUT/tail.txt | sort -n | tail -1) s"; fi
echo "config: $(wc -l < $OUT/config.txt) GETs, $(awk '!($1==200 && $2>0)' $OUT/config.txt | wc -l) bad, slowest $(awk '{print $3}' $OUT/config.txt | sort -n | tail -1) s"
echo "rebuilds started: $(grep -c 'serve: rebuilding' $OUT/serve.err), stopped: $(grep -c 'stopped rebuilding' $OUT/serve.err)"
grep -E "Maximum resident|Elapsed|Percent of CPU" $OUT/serve.err
grep -v " GET \| HEAD " $OUT/serve.err | grep -E "cut off|could not|closed" | head -5
