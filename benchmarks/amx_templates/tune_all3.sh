#!/bin/bash
# final sequential tuning of all 14 problems (scratch); do not run other benchmarks meanwhile
cd /work/main/benchmarks/amx_templates
PY=../../.venv/bin/python
SEEDS='[{"KC":512,"NC":512,"PACKB":3,"NTA":1}, {"KC":256,"NC":256,"PACKB":2,"NTA":1}, {"KC":512,"NC":512,"PACKB":2,"NTA":1}, {"KC":512,"NC":512,"PACKB":1,"ORDER":1,"NTA":0,"NTB":1}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":64,"XPIPE":0,"KC":256}, {"PACKB":1,"ORDER":2,"NTA":0,"NTB":1,"PACKA":1,"NC":256,"KC":256,"PFN":1,"CNT":1}, {"PACKB":1,"ORDER":2,"NTA":0,"NTB":1,"PACKA":1,"NC":512,"KC":512}, {"PACKB":1,"ORDER":2,"NTA":0,"NTB":1,"NC":256,"KC":512}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":1,"NC":128,"KC":1024,"PFN":1,"PFC":1,"MC":32}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"MB":1,"NB":1,"NC":64,"KC":256,"PFC":1,"PFN":1}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"MB":1,"NB":2,"NC":64,"KC":256,"PFN":1}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":1,"NC":128,"KC":512,"PFC":1}, {"PACKB":1,"ORDER":1,"NTA":0,"NTB":0,"NC":128,"KC":512,"CNT":1}]'
for dt in "$@"; do
  for sh in 256 512 784x256x1024 3136x128x512 12544x64x256 1024 2048; do
    n=60; [ $sh = 2048 ] && n=30; [ $sh = 1024 ] && n=45
    $PY tune2.py $dt $sh $n "$SEEDS" > logs3_${dt}_${sh}.txt 2>&1
  done
done
