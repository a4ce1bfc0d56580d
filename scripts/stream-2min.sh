#!/bin/bash
# Issue 15 check: run from an empty scratch folder (it writes n1..n3, send.out, ids there);
# needs ffmpeg and the debug build in ~/.cache/argus-ci-target (ARGUS_BIN overrides it).
# 3 nodes, a camera (HTTP MJPEG) that runs 60 s, drops for 3 s and returns; argus send --stream
# at 5 frames/s for 2 minutes (then SIGINT); every announced frame must be stored on all nodes.
B=${ARGUS_BIN:-$HOME/.cache/argus-ci-target/debug/argus}
for i in 1 2 3; do
  peers=""; [ $i -gt 1 ] && peers="--peer /ip4/127.0.0.1/tcp/4110$((i-1))"
  $B node --no-mdns --listen /ip4/127.0.0.1/tcp/4110$i --http 127.0.0.1:4210$i --data n$i --backend flex $peers > n$i.out 2> n$i.err &
  echo $! >> pids
done
sleep 5
cam() { ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc=size=320x240:rate=10 -t $1 -c:v mjpeg -q:v 5 -f mpjpeg -listen 1 http://127.0.0.1:43005/cam >/dev/null 2>&1 & echo $!; }
c1=$(cam 60); sleep 0.3
start=$(date +%s.%N)
$B send --stream http://127.0.0.1:43005/cam --rate 5 --name cam-2 --min-peers 3 --no-mdns --listen /ip4/127.0.0.1/tcp/0 --peer /ip4/127.0.0.1/tcp/41101 --peer /ip4/127.0.0.1/tcp/41102 --peer /ip4/127.0.0.1/tcp/41103 --linger-s 60 > send.out 2> send.err &
s=$!
while kill -0 $c1 2>/dev/null; do sleep 0.2; done; sleep 3; c2=$(cam 100)
sleep $(python3 -c "import time; print(max(0, 120 - (time.time() - $start)))")
kill -INT $s; wait $s; echo "send rc=$? after $(python3 -c "import time; print(round(time.time() - $start,1))") s"
kill $c2 2>/dev/null
grep -c '"announced"' send.out; tail -1 send.out
grep -o '"image_id":"[0-9a-f]*"' send.out | cut -d'"' -f4 > ids
for p in 42101 42102 42103; do
  miss=0; while read id; do code=$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:$p/v1/detections/$id); [ "$code" = 200 ] || miss=$((miss+1)); done < ids
  echo "node $p: $(wc -l < ids) announced, $miss missing"
done
grep -E "dropped|flowing|closed" send.err | cut -c1-200
kill $(cat pids)
