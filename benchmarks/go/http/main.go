// HTTP/1.1 hello server for http.sh: Go's net/http (one goroutine per connection).
// Usage: http-go PORT. GOMAXPROCS is set from BENCH_WORKERS when given.
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if w, err := strconv.Atoi(os.Getenv("BENCH_WORKERS")); err == nil && w > 0 {
		runtime.GOMAXPROCS(w)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, World!"))
	})
	fmt.Println("ready")
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
