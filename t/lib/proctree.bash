# t/lib/proctree.bash (sourced): descendants PID prints every process below
# PID, read from /proc (workers run in their own sessions, but stay the
# daemon's children).  Shared by t/lib/cluster.bash and the bench scripts.
descendants() {
	local f pid ppid rest q=("$1") cur
	local -A kids=()
	for f in /proc/[0-9]*/stat; do
		read -r pid rest 2>/dev/null <"$f" || continue
		rest=${rest##*) }
		read -r _ ppid _ <<<"$rest"
		kids[$ppid]+=" $pid"
	done
	while ((${#q[@]})); do
		cur=${q[0]}
		q=("${q[@]:1}")
		for pid in ${kids[$cur]:-}; do
			echo "$pid"
			q+=("$pid")
		done
	done
}
