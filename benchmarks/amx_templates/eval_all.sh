#!/bin/bash
# run the project's evaluator on every tuned instance (scratch)
cd /work/main
for f in benchmarks/amx_templates/instances/*.c; do
  p=$(basename $f .c)
  r=$(timeout 900 .venv/bin/autocomp eval amx/$p $f --json 2>&1 | tail -n 1)
  echo "$p $r"
done
