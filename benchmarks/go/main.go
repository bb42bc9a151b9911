// The Go side of the gorun benchmark suite: the same workloads as the Rust
// programs, printing the same one-line result format:
//
//	workload=pingpong runtime=go n=1000000 ns_per_op=330.1 check=499999500000 hwm_kb=2300
//
// Usage: bench-go WORKLOAD [SIZE]. Build with CGO_ENABLED=0.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	mutexIncrements = 1000
	tcpClients      = 100
	tcpMsg          = 64
	mpmcProducers   = 4
	mpmcConsumers   = 4
	mpmcCap         = 1024
	selectProducers = 4
	settle          = 50 * time.Millisecond
)

// Must match default_size in common/src/lib.rs.
var defaultSize = map[string]uint64{
	"spawn":          1000000,
	"park_memory":    100000,
	"wake_all":       1000000,
	"skynet":         1000000,
	"pingpong":       1000000,
	"mpmc":           10000000,
	"mutex":          1000,
	"yield":          1000000,
	"select":         1000000,
	"tcp_echo":       1000,
	"timers":         100000,
	"timer_lateness": 1000,
}

type outcome struct {
	elapsed time.Duration
	ops     uint64
	check   uint64
	extra   string
}

func statusKB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseUint(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// Must match timer_ms in common/src/lib.rs.
func timerMs(i uint64) uint64 {
	return (i*0x9E3779B97F4A7C15)>>33%100 + 1
}

func triangle(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return n * (n - 1) / 2
}

func spawn(n uint64) outcome {
	var wg sync.WaitGroup
	var count atomic.Uint64
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() {
			count.Add(1)
			wg.Done()
		}()
	}
	wg.Wait()
	return outcome{time.Since(start), n, count.Load(), ""}
}

func parkMemory(n uint64, wakeAll bool) outcome {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	var ready, woken atomic.Uint64
	before := statusKB("VmRSS")
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() {
			ready.Add(1)
			<-ch
			woken.Add(1)
			wg.Done()
		}()
	}
	for ready.Load() < n {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	time.Sleep(settle)
	rss, hwm := statusKB("VmRSS"), statusKB("VmHWM")
	woke := time.Now()
	close(ch)
	wg.Wait()
	wake := time.Since(woke)
	per := float64((hwm-before)*1024) / float64(n)
	extra := fmt.Sprintf(" bytes_per_g=%.0f rss_before_kb=%d rss_parked_kb=%d hwm_parked_kb=%d", per, before, rss, hwm)
	if wakeAll {
		// wake_all: the time to wake them all, and the whole park + wake.
		extra += fmt.Sprintf(" total_ms=%.0f", float64((elapsed+wake).Microseconds())/1e3)
		elapsed = wake
	}
	return outcome{elapsed, n, woken.Load(), extra}
}

func skynetNode(c chan uint64, num, size uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64)
	sub := size / 10
	for i := uint64(0); i < 10; i++ {
		go skynetNode(rc, num+i*sub, sub)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynet(n uint64) outcome {
	start := time.Now()
	c := make(chan uint64)
	go skynetNode(c, 0, n)
	sum := <-c
	return outcome{time.Since(start), n, sum, ""}
}

func pingpong(n uint64) outcome {
	ping, pong := make(chan uint64), make(chan uint64)
	start := time.Now()
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	var sum uint64
	for i := uint64(0); i < n; i++ {
		ping <- i
		sum += <-pong
	}
	close(ping)
	<-pong
	return outcome{time.Since(start), n, sum, ""}
}

func mpmc(n uint64) outcome {
	ch := make(chan uint64, mpmcCap)
	var prod, cons sync.WaitGroup
	var total atomic.Uint64
	start := time.Now()
	for p := uint64(0); p < mpmcProducers; p++ {
		lo, hi := p*n/mpmcProducers, (p+1)*n/mpmcProducers
		prod.Add(1)
		go func() {
			for i := lo; i < hi; i++ {
				ch <- i
			}
			prod.Done()
		}()
	}
	for c := 0; c < mpmcConsumers; c++ {
		cons.Add(1)
		go func() {
			var sum uint64
			for v := range ch {
				sum += v
			}
			total.Add(sum)
			cons.Done()
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	return outcome{time.Since(start), n, total.Load(), ""}
}

func mutex(n uint64) outcome {
	var mu sync.Mutex
	var counter uint64
	var wg sync.WaitGroup
	start := time.Now()
	for g := uint64(0); g < n; g++ {
		wg.Add(1)
		go func() {
			for i := 0; i < mutexIncrements; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return outcome{time.Since(start), n * mutexIncrements, counter, ""}
}

func yield(n uint64) outcome {
	var wg sync.WaitGroup
	var count atomic.Uint64
	start := time.Now()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			for i := uint64(0); i < n; i++ {
				runtime.Gosched()
			}
			count.Add(n)
			wg.Done()
		}()
	}
	wg.Wait()
	return outcome{time.Since(start), 2 * n, count.Load(), ""}
}

func selectBench(n uint64) outcome {
	var chans [selectProducers]chan uint64
	start := time.Now()
	for p := uint64(0); p < selectProducers; p++ {
		ch := make(chan uint64)
		chans[p] = ch
		lo, hi := p*n/selectProducers, (p+1)*n/selectProducers
		go func() {
			for i := lo; i < hi; i++ {
				ch <- i
			}
		}()
	}
	var sum uint64
	for got := uint64(0); got < n; got++ {
		select {
		case v := <-chans[0]:
			sum += v
		case v := <-chans[1]:
			sum += v
		case v := <-chans[2]:
			sum += v
		case v := <-chans[3]:
			sum += v
		}
	}
	return outcome{time.Since(start), n, sum, ""}
}

func tcpEcho(rounds uint64) (outcome, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return outcome{}, err
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, tcpMsg)
				for {
					k, err := conn.Read(buf)
					if err != nil || k == 0 {
						return
					}
					if _, err := conn.Write(buf[:k]); err != nil {
						return
					}
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	var wg sync.WaitGroup
	var total atomic.Uint64
	errs := make(chan error, tcpClients)
	start := time.Now()
	for c := 0; c < tcpClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			msg := make([]byte, tcpMsg)
			buf := make([]byte, tcpMsg)
			for i := range msg {
				msg[i] = byte(i)
			}
			for r := uint64(0); r < rounds; r++ {
				if _, err := conn.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(conn, buf); err != nil {
					errs <- err
					return
				}
				total.Add(uint64(len(buf)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return outcome{}, err
	default:
	}
	return outcome{elapsed, rounds * tcpClients, total.Load(), ""}, nil
}

func timers(n uint64) outcome {
	var wg sync.WaitGroup
	var total atomic.Uint64
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() {
			ms := timerMs(i)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			total.Add(ms)
			wg.Done()
		}()
	}
	wg.Wait()
	return outcome{time.Since(start), n, total.Load(), ""}
}

const latenessRounds = 5

// latenessMs: how long sleeper i sleeps in round k of timer_lateness (1-10 ms); the same
// as lateness_ms in common/src/lib.rs.
func latenessMs(i, k uint64) uint64 {
	return timerMs(i*latenessRounds+k)%10 + 1
}

// timerLateness: n sleepers each sleep latenessRounds times (alternately time.Sleep and
// <-time.After) while one goroutine per P spins 50 µs between Gosched calls; ns_per_op is
// the p99 of how late each timer fired.
func timerLateness(n uint64) outcome {
	var stop atomic.Bool
	var load sync.WaitGroup
	for p := 0; p < runtime.GOMAXPROCS(0); p++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for !stop.Load() {
				for t := time.Now(); time.Since(t) < 50*time.Microsecond; {
				}
				runtime.Gosched()
			}
		}()
	}
	late := make([]uint64, n*latenessRounds)
	var wg sync.WaitGroup
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(0); k < latenessRounds; k++ {
				d := time.Duration(latenessMs(i, k)) * time.Millisecond
				start := time.Now()
				if k%2 == 0 {
					time.Sleep(d)
				} else {
					<-time.After(d)
				}
				if l := time.Since(start) - d; l > 0 {
					late[i*latenessRounds+k] = uint64(l)
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	load.Wait()
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	at := func(p float64) uint64 { return late[int(float64(len(late)-1)*p)] }
	extra := fmt.Sprintf(" p50_us=%.1f p99_us=%.1f max_us=%.1f",
		float64(at(0.5))/1000, float64(at(0.99))/1000, float64(at(1))/1000)
	return outcome{time.Duration(at(0.99)), 1, uint64(len(late)), extra}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-go WORKLOAD [SIZE]")
		os.Exit(2)
	}
	workload := os.Args[1]
	n, ok := defaultSize[workload]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", workload)
		os.Exit(2)
	}
	if len(os.Args) > 2 {
		v, err := strconv.ParseUint(os.Args[2], 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad size %q\n", os.Args[2])
			os.Exit(2)
		}
		n = v
	}
	prefix := fmt.Sprintf("workload=%s runtime=go n=%d", workload, n)
	var o outcome
	switch workload {
	case "spawn":
		o = spawn(n)
	case "park_memory":
		o = parkMemory(n, false)
	case "wake_all":
		o = parkMemory(n, true)
	case "skynet":
		o = skynet(n)
	case "pingpong":
		o = pingpong(n)
	case "mpmc":
		o = mpmc(n)
	case "mutex":
		o = mutex(n)
	case "yield":
		o = yield(n)
	case "select":
		o = selectBench(n)
	case "tcp_echo":
		var err error
		o, err = tcpEcho(n)
		if err != nil {
			fmt.Printf("%s ns_per_op=n/a reason=%s\n", prefix, strings.ReplaceAll(err.Error(), "\n", " "))
			os.Exit(1)
		}
	case "timers":
		o = timers(n)
	case "timer_lateness":
		o = timerLateness(n)
	}
	ns := float64(o.elapsed.Nanoseconds()) / float64(max(o.ops, 1))
	fmt.Printf("%s ns_per_op=%.1f check=%d%s hwm_kb=%d\n", prefix, ns, o.check, o.extra, statusKB("VmHWM"))
}
