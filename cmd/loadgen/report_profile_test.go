package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pprofTop is the shape of `go tool pprof -top` output.
const pprofTop = `File: orgpulse
Type: cpu
Duration: 5s, Total samples = 2s (40%)
Showing nodes accounting for 2s, 100% of 2s total
      flat  flat%   sum%        cum   cum%
     0.80s 40.00% 40.00%      0.80s 40.00%  internal/runtime/syscall/linux.Syscall6
     500ms 25.00% 65.00%      0.60s 30.00%  github.com/graph-gophers/graphql-go/internal/exec.execFieldSelection
     0.30s 15.00% 80.00%      0.30s 15.00%  runtime.mallocgc
     0.20s 10.00% 90.00%      0.20s 10.00%  github.com/jackc/pgx/v5.(*baseRows).Scan
     0.10s  5.00% 95.00%      0.10s  5.00%  orgpulse/resolvers.groupBy[go.shape.int64] (inline)
     0.05s  2.50% 97.50%      0.05s  2.50%  runtime.findRunnable
     0.03s  1.50% 99.00%      0.03s  1.50%  runtime.newstack
     0.02s  1.00% 100%        0.02s  1.00%  strconv.ParseFloat
         0     0%   100%      0.80s 40.00%  net/http.(*conn).serve
`

func TestReadProfileSplitsByArea(t *testing.T) {
	file := filepath.Join(t.TempDir(), "profile.org.txt")
	if err := os.WriteFile(file, []byte(pprofTop), 0o644); err != nil {
		t.Fatal(err)
	}
	areas, total, err := readProfile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := total, 2*time.Second; got != want {
		t.Errorf("total %v, want %v", got, want)
	}
	want := map[string]time.Duration{
		"graphql-go (validation, execution by reflection)": 500 * time.Millisecond,
		"pgx (PostgreSQL protocol, scanning rows)":         200 * time.Millisecond,
		"net/http and system calls":                        800 * time.Millisecond,
		"goroutine stacks":                                 30 * time.Millisecond,
		"memory: allocation, copying, GC":                  300 * time.Millisecond,
		"scheduling and the rest of the runtime":           50 * time.Millisecond,
		"orgpulse's own code":                              100 * time.Millisecond,
		"other (standard library, dataloader, ...)":        20 * time.Millisecond,
	}
	for i, a := range profileAreas {
		if got := areas[i]; got != want[a.name] {
			t.Errorf("%s: %v, want %v", a.name, got, want[a.name])
		}
	}
}

func TestReadProfileRefusesOtherText(t *testing.T) {
	for _, text := range []string{"not a profile\n", pprofTop[:strings.Index(pprofTop, "      flat")] + "      flat  flat%   sum%        cum   cum%\n     banana 1% 1% 1s 1%  x\n"} {
		file := filepath.Join(t.TempDir(), "p.txt")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readProfile(file); err == nil {
			t.Errorf("read %q without an error", text)
		}
	}
}

func TestProfileTable(t *testing.T) {
	dir := t.TempDir()
	writeResults(t, dir, map[string]Result{
		"c32.nocache.org.r1": {Count: 1000}, "c32.pg5.org.r1": {Count: 500},
	})
	for file, text := range map[string]string{
		"cpu.txt":          "c32.nocache.org.r1\t100\nc32.pg5.org.r1\t300\n",
		"cpu-postgres.txt": "c32.nocache.org.r1\t50\nc32.pg5.org.r1\t50\n",
		"profile.org.txt":  pprofTop,
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &report{dir: dir, meta: map[string]string{"clk_tck": "100", "cores": "2"}}
	r.profileTable()
	out := r.b.String()
	// orgpulse: 1 s and 0.5 s over 1,000 requests; PostGraphile 5: 3 s and
	// 0.5 s over 500: 7 ms against 1.5 ms, 4.67x.
	for _, want := range []string{
		"| single organization | 1.00 + 0.500 = 1.50 | n/a | n/a |",
		"= 7.00 | 4.67x |",
		"| single organization | 2.0 s | 25% | 10% | 40% | 0% | 2% | 15% | 2% | 5% | 1% |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("profile table lacks %q:\n%s", want, out)
		}
	}
}
