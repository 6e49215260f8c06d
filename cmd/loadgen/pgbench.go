package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// runPgbench reads pgbench per-transaction logs (pgbench -l: "client_id
// transaction_no time_us script_no time_epoch time_us_part") and reports
// the latency percentiles of the transactions, in the Result format of
// the other commands.
func runPgbench(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("pgbench", flag.ContinueOnError)
	out := fs.String("o", "", "write the JSON result here (default stdout)")
	elapsed := fs.Duration("elapsed", 0, "wall time of the pgbench run, for rps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("name one or more pgbench log files")
	}
	var ds []time.Duration
	clients := map[string]bool{}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %q: %w", name, sc.Text(), err)
			}
			clients[fields[0]] = true
			ds = append(ds, time.Duration(us)*time.Microsecond)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(ds) == 0 {
		return errors.New("the pgbench logs hold no transaction")
	}
	res := &Result{URL: "pgbench", Concurrency: len(clients)}
	res.summarize(ds, *elapsed)
	return writeJSON(*out, res)
}
