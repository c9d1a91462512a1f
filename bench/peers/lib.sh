# shellcheck shell=bash
# bench/peers/lib.sh: shell helpers shared by bench/run-all, bench/growth and the
# peer baselines in bench/peers/ (sourced, not run): free loopback ports, the
# median [min-max] of key=value result lines, compiling the peer programs, and
# the machine description printed at the top of every table.

# free_port prints a loopback port nothing listens on, below the kernel's
# ephemeral range so that client sockets cannot be holding it.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# kv_vals FILE KEY: the values of KEY over the lines of FILE, sorted, one a line.
kv_vals() {
    [ -f "$1" ] || return 0
    sed -n "s/.*\b$2=\(-\{0,1\}[0-9.e+-]*\).*/\1/p" "$1" | sort -g
}

# kv_median FILE KEY: the median of KEY over the lines of FILE ("" when none).
kv_median() {
    kv_vals "$1" "$2" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# kv_field FILE KEY FMT [SCALE]: "median [min-max]" of KEY (times SCALE), "-" when none.
kv_field() {
    kv_vals "$1" "$2" | awk -v fmt="$3" -v k="${4:-1}" '{ v[NR] = $1 * k } END {
        if (NR == 0) { print "-"; exit }
        if (NR == 1) { printf(fmt "\n", v[1]); exit }
        printf(fmt " [" fmt "-" fmt "]\n", v[int((NR + 1) / 2)], v[1], v[NR]) }'
}

# ratio A B FMT: A / B formatted, "-" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" -v fmt="${3:-%.2fx}" 'BEGIN {
        if (a == "" || b == "" || b + 0 == 0) print "-"; else printf(fmt "\n", a / b) }'
}

# build_peers BINDIR: compiles the peer programs of bench/peers/ into BINDIR
# (plain cc: they are benchmark tools, not part of the CMake build).
build_peers() {
    local src bin="$1"
    src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    mkdir -p "$bin"
    local flags=(-std=c11 -O2 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes
                 -Wmissing-prototypes -Wwrite-strings)
    cc "${flags[@]}" -pthread -o "$bin/beanstalk_bench" "$src/beanstalk_bench.c"
    cc "${flags[@]}" -o "$bin/floors" "$src/floors.c" -lsqlite3
    cc "${flags[@]}" -o "$bin/http_floor" "$src/http_floor.c" -lmicrohttpd
}

# machine_info: date, host, CPU, memory, disk and load, one item a line.
machine_info() {
    local cpu
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores (${cpu:-unknown CPU}), $(awk '/MemTotal/ { printf("%.1f GiB", $2 / 1048576) }' /proc/meminfo) RAM"
    echo "disk: $(df -hT "${1:-.}" | awk 'NR == 2 { print $1 " " $2 ", " $5 " free of " $3 }')"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "peers: $(psql --version 2>/dev/null | head -n 1), $(beanstalkd -v 2>/dev/null), sqlite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1)"
}

# op_wait URL AUTH: polls a bulk operation (GET URL with the header AUTH) every
# half second until it is no longer running and prints its last JSON. Pure bash
# and curl: the machine has two cores, and a python3 per poll (~0.2 s of CPU each
# here, every 0.2 s) took nearly half a core from the server it timed. The op's
# own created_at and finished_at time it, so polling less often moves nothing.
op_wait() {
    local op
    while :; do
        op="$(curl -sS --fail-with-body -H "$2" "$1")" || { echo "$op" >&2; return 1; }
        [[ $op =~ \"state\":\"running\" ]] || break
        sleep 0.5
    done
    echo "$op"
}

# json_scalar JSON KEY: the value of the first "KEY" in JSON when it is a string
# or a number (quotes dropped), in pure bash for the same reason as op_wait.
json_scalar() {
    [[ $1 =~ \"$2\":(\"([^\"]*)\"|(-?[0-9.]+)) ]] || return 1
    echo "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
}
