#!/bin/bash
# sleeper-actor.sh: an actor speaking the `tagged` protocol (see
# docs/actor-protocols.md), so its answers may come out of order.  Each call
# arrives on stdin as ID<TAB>METHOD<TAB>ARG; each answer is ID<TAB>RESULT or
# ID<TAB>!MESSAGE.  `sleep SEC` runs in the background and answers when done,
# so with --max-concurrency N up to N sleeps overlap:
#
#   ray-actor create --protocol tagged --max-concurrency 4 -- bash sleeper-actor.sh
#
# printf writes each short answer with one write(2), so answers from
# concurrent background jobs never interleave on the pipe.
while IFS=$'\t' read -r id method arg; do
	case $method in
	sleep)
		if [[ $arg =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
			{ sleep "$arg"; printf '%s\tslept %s\n' "$id" "$arg"; } &
		else
			printf '%s\t!sleep wants seconds, not '\''%s'\''\n' "$id" "$arg"
		fi ;;
	echo) printf '%s\t%s\n' "$id" "$arg" ;;
	*)    printf '%s\t!no method '\''%s'\'' (try sleep SEC, echo X)\n' "$id" "$method" ;;
	esac
done
wait
