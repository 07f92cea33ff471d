#!/bin/sh
# wc-map.sh FILE: the map step of the word-count demo.  Prints one line per
# distinct word of FILE, "COUNT WORD", lowercased, leaving out the commonest
# short English words so the top of the list says something about the text.
# As a ray-tools task it is run as `wc-map.sh @REF`: the node replaces @REF
# with the path of a read-only file holding the object.
set -eu
stop=' a an and are as at be but by for from had has have he her him his i if in into is it its me my no not of on or our she so that the their them then there they this to too up us was we were what when where which who will with would you your '
tr -cs 'A-Za-z' '\n' < "$1" | tr 'A-Z' 'a-z' | sort | uniq -c |
	awk -v stop="$stop" '$2 != "" && index(stop, " " $2 " ") == 0 { print $1, $2 }'
