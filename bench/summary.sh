# Sourced by the benchmark scripts: each figure with a goal (or a time the issues ask for) is
# recorded as one line of the table bench/run.sh prints at its end. Without BENCH_SUMMARY (a
# script run alone) nothing is recorded; the script's own output has every figure.
summary() { # what figure goal verdict
  [[ -n ${BENCH_SUMMARY:-} ]] || return 0
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$BENCH_SUMMARY"
}
at_least() { # value goal: met when value >= goal
  if (($(echo "$1 >= $2" | bc -l))); then echo met; else echo MISSED; fi
}
below() { # value goal: met when value < goal
  if (($(echo "$1 < $2" | bc -l))); then echo met; else echo MISSED; fi
}
