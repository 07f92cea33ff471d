#!/bin/sh
# wc-reduce.sh [N] MAPOUT...: the reduce step of the word-count demo.  Sums
# the "COUNT WORD" lines of every map output and prints the N (default 10)
# most frequent words, "COUNT WORD", most frequent first (ties by word).
set -eu
n=10
case ${1:-} in
''|*[!0-9]*) ;;
*) n=$1; shift ;;
esac
[ $# -gt 0 ] || { echo "usage: wc-reduce.sh [N] MAPOUT..." >&2; exit 2; }
awk '{ c[$2] += $1 } END { for (w in c) print c[w], w }' "$@" |
	sort -k1,1nr -k2,2 | head -n "$n"
