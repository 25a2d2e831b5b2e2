#!/bin/bash
# sequential tuning of all shapes (scratch)
cd /work/main/benchmarks/amx_templates
PY=../../.venv/bin/python
SMALL='[{}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":64,"XPIPE":0}, {"PACKB":2}]'
BIG='[{"PACKB":1,"ORDER":2,"NTA":0,"NTB":1,"PACKA":1,"NC":256,"KC":256,"PFN":1,"CNT":1}, {"KC":512,"MC":256,"NC":1024}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":64,"XPIPE":0,"MC":256,"KC":256}]'
TS1='[{"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":64}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":64,"PFN":1,"CNT":1}, {"NC":64,"KC":256}]'
TS2='[{"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":128}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":128,"PFN":1,"CNT":1}, {"NC":128,"KC":512}]'
TS3='[{"PACKB":1,"ORDER":1,"NTA":0,"NTB":1,"NC":256,"KC":1024,"PFN":1}, {"PACKB":1,"ORDER":2,"NTA":0,"NTB":1,"PACKA":1,"NC":256,"KC":256}, {"NC":256,"KC":512}]'
for dt in "$@"; do
  $PY tune.py $dt 256 "$SMALL" --passes 1 > logs_${dt}_256.txt 2>&1
  $PY tune.py $dt 512 "$SMALL" --passes 1 > logs_${dt}_512.txt 2>&1
  $PY tune.py $dt 12544x64x256 "$TS1" --passes 1 > logs_${dt}_12544.txt 2>&1
  $PY tune.py $dt 3136x128x512 "$TS2" --passes 1 > logs_${dt}_3136.txt 2>&1
  $PY tune.py $dt 784x256x1024 "$TS3" --passes 1 > logs_${dt}_784.txt 2>&1
  $PY tune.py $dt 1024 "$BIG" --passes 1 > logs_${dt}_1024.txt 2>&1
  $PY tune.py $dt 2048 "$BIG" --passes 1 > logs_${dt}_2048.txt 2>&1
done
