// HTTP/1.1 hello server for http.sh without net/http: the same shape as
// http-gorun-raw (one goroutine per connection, net + bufio, a fixed response per
// "\r\n\r\n", flushed when the reader has no more buffered bytes).
// Usage: http-go-raw PORT. GOMAXPROCS is set from BENCH_WORKERS when given.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
)

var response = []byte("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!")

func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 4096)
	w := bufio.NewWriterSize(conn, 4096)
	matched := 0 // how much of "\r\n\r\n" the bytes read so far end with
	for {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		switch {
		case (matched == 0 || matched == 2) && b == '\r':
			matched++
		case (matched == 1 || matched == 3) && b == '\n':
			matched++
		case b == '\r':
			matched = 1
		default:
			matched = 0
		}
		if matched == 4 {
			matched = 0
			w.Write(response)
		}
		if r.Buffered() == 0 && w.Buffered() > 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if w, err := strconv.Atoi(os.Getenv("BENCH_WORKERS")); err == nil && w > 0 {
		runtime.GOMAXPROCS(w)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(conn)
	}
}
