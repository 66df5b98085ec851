package main

// Where the CPU goes. On a machine with fewer cores than the load needs,
// throughput cannot grow with server processes whatever the code does;
// what the code decides is the CPU each verification costs, and whether a
// second process makes that cost grow (waiting on locks costs no CPU, but
// lost wake-ups, retries and a second runtime do). So each row also reports
// CPU time per verification, read from /proc (Linux; elsewhere the columns
// say n/a): the load test's own process (the clients), the login-server
// processes, the PostgreSQL backends serving them, and the whole machine.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the backends' PIDs
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// procCPU returns the user plus system CPU time of process pid.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	// After the name: state(0) … utime(11) stime(12).
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}

// machineCPU returns the busy time of all CPUs since boot (/proc/stat).
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and
	// iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, true
}

// cpuGroups names the processes whose CPU a measurement reads.
type cpuGroups struct {
	servers []int
	// backends lists the PostgreSQL backends serving the servers: those
	// whose application_name is app (none on SQLite).
	db  *sql.DB
	app string
}

// cpuSample is the CPU time of each group at one moment.
type cpuSample struct {
	clients, servers, machine time.Duration
	backends                  map[int]time.Duration
	ok                        bool
}

func (g cpuGroups) sample(ctx context.Context) cpuSample {
	s := cpuSample{ok: true, backends: map[int]time.Duration{}}
	var ok bool
	if s.clients, ok = procCPU(os.Getpid()); !ok {
		return cpuSample{}
	}
	for _, p := range g.servers {
		t, ok := procCPU(p)
		if !ok {
			return cpuSample{}
		}
		s.servers += t
	}
	if s.machine, ok = machineCPU(); !ok {
		return cpuSample{}
	}
	if g.db != nil {
		rows, err := g.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, g.app)
		if err != nil {
			return cpuSample{}
		}
		defer rows.Close()
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) != nil {
				return cpuSample{}
			}
			if t, ok := procCPU(pid); ok {
				s.backends[pid] = t
			}
		}
		if rows.Err() != nil {
			return cpuSample{}
		}
	}
	return s
}

// cpuUse is CPU time per verification between two samples.
type cpuUse struct {
	clients, servers, backends, machine time.Duration
	ok                                  bool
}

func (a cpuSample) until(b cpuSample, n int) cpuUse {
	if !a.ok || !b.ok || n == 0 {
		return cpuUse{}
	}
	var be time.Duration
	for pid, t := range b.backends {
		// A backend that started during the run counts from zero.
		be += t - a.backends[pid]
	}
	per := func(d time.Duration) time.Duration { return d / time.Duration(n) }
	return cpuUse{per(b.clients - a.clients), per(b.servers - a.servers), per(be), per(b.machine - a.machine), true}
}

// cells formats the four figures in microseconds per verification; the
// database's is a dash without database processes.
func (u cpuUse) cells(database bool) string {
	if !u.ok {
		return "n/a | n/a | n/a | n/a"
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
	db := "–"
	if database {
		db = us(u.backends)
	}
	return strings.Join([]string{us(u.clients), us(u.servers), db, us(u.machine)}, " | ")
}

// withApp returns dsn naming its connections app, so that their backends
// can be found in pg_stat_activity.
func withApp(dsn, app string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "application_name=" + app
}
