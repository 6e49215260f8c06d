package realtime_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"orgpulse/realtime"
)

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedisCluster runs n redis-server masters as a Redis Cluster, the
// slots split evenly, and returns their addresses in slot order.
func startRedisCluster(t *testing.T, n int) []string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	addrs := make([]string, n)
	buses := make([]int, n)
	clients := make([]*redis.Client, n)
	for i := range n {
		port, bus := freePort(t), freePort(t)
		buses[i] = bus
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-port", strconv.Itoa(bus), "--save", "", "--appendonly", "no", "--dir", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
		clients[i] = redis.NewClient(&redis.Options{Addr: addrs[i]})
		t.Cleanup(func() { _ = clients[i].Close() })
	}
	ctx := context.Background()
	waitFor(t, "redis-servers answer", func() bool {
		for _, c := range clients {
			if c.Ping(ctx).Err() != nil {
				return false
			}
		}
		return true
	})
	per := 16384 / n
	for i, c := range clients {
		hi := (i+1)*per - 1
		if i == n-1 {
			hi = 16383
		}
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", i*per, hi).Err(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			// With its own bus port, a node is met at that port too.
			host, port, _ := net.SplitHostPort(addrs[i])
			if err := clients[0].Do(ctx, "CLUSTER", "MEET", host, port, buses[i]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var last string
	waitFor(t, "the cluster to be ok on every node, all linked", func() bool {
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			nodes, _ := c.ClusterNodes(ctx).Result()
			last = fmt.Sprintf("%s: %v %.40s %s", c.Options().Addr, err, info, nodes)
			if err != nil || !strings.Contains(info, "cluster_state:ok") || strings.Count(nodes, " connected") != n {
				return false
			}
		}
		return true
	}, &last)
	return addrs
}

// waitFor polls ok for up to 30s; detail, when given, is printed on timeout.
func waitFor(t *testing.T, what string, ok func() bool, detail ...*string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			if len(detail) > 0 {
				t.Fatalf("timed out waiting for %s: %s", what, *detail[0])
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPublishOrderOnRedisCluster: events a hub publishes one after the
// other reach a subscriber on another node of a Redis Cluster in the order
// they were published. go-redis sends PUBLISH to the masters in turn, and
// each forwards it over its own bus links, so without routing every
// channel's events through one node they overtook each other, and the
// feed drops an event that arrives after a later one as a repeat
// (scripts/scale-test.sh cluster lost a third of its first events so).
func TestPublishOrderOnRedisCluster(t *testing.T) {
	addrs := startRedisCluster(t, 3)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })
	const prefix, topic, n = "{ordertest}:", "t", 300
	h := newHub(t, cc, realtime.Config{Prefix: prefix})

	// A subscriber on a node that does not serve the channel's slot, so
	// that every event reaches it over the cluster bus.
	owner, err := cc.MasterForKey(ctx, prefix+topic)
	if err != nil {
		t.Fatal(err)
	}
	var other string
	for _, a := range addrs {
		if a != owner.Options().Addr {
			other = a
			break
		}
	}
	sc := redis.NewClient(&redis.Options{Addr: other})
	t.Cleanup(func() { _ = sc.Close() })
	sub := sc.Subscribe(ctx, prefix+topic)
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	ch := sub.Channel()

	for i := range n {
		publish(t, h, topic, strconv.Itoa(i))
	}
	last := -1
	for range n {
		select {
		case m := <-ch:
			got, _ := strconv.Atoi(m.Payload)
			if got <= last {
				t.Fatalf("event %d arrived after event %d", got, last)
			}
			last = got
		case <-time.After(10 * time.Second):
			t.Fatalf("only events up to %d of %d arrived", last, n)
		}
	}
}
