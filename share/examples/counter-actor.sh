#!/bin/bash
# counter-actor.sh: a counter actor speaking the `line` protocol (see
# docs/actor-protocols.md).  Each call arrives on stdin as one line,
# METHOD<TAB>ARG; each answer is one line on stdout, or "!MESSAGE" when the
# method fails.  Run it with `ray-actor create -- bash counter-actor.sh`.
n=0
while IFS=$'\t' read -r method arg; do
	case $method in
	add)
		if [[ $arg =~ ^-?[0-9]+$ ]]; then n=$((n + arg)); echo "$n"
		else echo "!add wants an integer, not '$arg'"; fi ;;
	get)   echo "$n" ;;
	reset) n=0; echo "$n" ;;
	*)     echo "!no method '$method' (try add N, get, reset)" ;;
	esac
done
