package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// botProcess is a jitbot serve the tool started.
type botProcess struct {
	cmd  *exec.Cmd
	addr string
	log  string // the file its stderr goes to
	done chan struct{}
}

// buildBot builds cmd/jitbot into dir.
func buildBot(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "jitbot")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/jitbot/jitbot/cmd/jitbot")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build jitbot: %w\n%s", err, out)
	}
	return bin, nil
}

var listeningRe = regexp.MustCompile(`msg="jitbot listening" addr=(\S+)`)

// startBot runs bin serve --config config with env, its log in logFile, and
// waits for it to listen.
// With cpus (a taskset list such as "0" or "0,1"), the bot runs on those
// CPUs only: taskset execs it, so the pid is the bot's.
// With cpuProfile, the bot writes a CPU profile there until it stops; with
// memProfile, a heap profile there when it stops.
func startBot(bin, config, logFile string, env []string, cpus, cpuProfile, memProfile string) (*botProcess, error) {
	args := []string{"serve", "--config", config}
	if cpuProfile != "" {
		args = append(args, "--cpuprofile", cpuProfile)
	}
	if memProfile != "" {
		args = append(args, "--memprofile", memProfile)
	}
	cmd := exec.Command(bin, args...)
	if cpus != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("-bot-cpus needs taskset (util-linux): %w", err)
		}
		cmd = exec.Command(taskset, append([]string{"-c", cpus, bin}, args...)...)
	}
	p := &botProcess{cmd: cmd, log: logFile, done: make(chan struct{})}
	p.cmd.Env = env
	// The bot goes with the tool, even when the tool dies.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("bot log: %w", err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("bot stderr: %w", err)
	}
	p.cmd.Stdout = out
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	addrs := make(chan string, 1)
	go func() {
		defer close(p.done)
		defer out.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(out, line+"\n")
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(out, stderr)
	}()
	select {
	case p.addr = <-addrs:
		return p, nil
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
	p.stop()
	return nil, fmt.Errorf("jitbot did not start; its log is %s", logFile)
}

// stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (p *botProcess) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// machineStats is what /proc/stat says of the whole machine: the time of
// all its CPUs, and the part of it the hypervisor gave to other machines
// (steal), in clock ticks.
type machineStats struct{ total, steal int64 }

// readMachine reads the machine's CPU times.
func readMachine() (machineStats, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineStats{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineStats{}, errors.New("malformed /proc/stat")
	}
	var m machineStats
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return machineStats{}, fmt.Errorf("parse /proc/stat: %w", err)
		}
		if i < 8 { // guest time is counted in user time already
			m.total += n
		}
		if i == 7 {
			m.steal = n
		}
	}
	return m, nil
}

// stealShare is the share of the machine's CPU time between a and b that
// the hypervisor gave to other machines: runs with much of it measured a
// slower machine.
func stealShare(a, b machineStats) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.steal-a.steal) / float64(b.total-a.total)
}

// procStats is what /proc says of a process.
type procStats struct {
	cpu     time.Duration // user + system time
	peakRSS int64         // VmHWM, bytes
}

// readProc reads the CPU time and peak RSS of pid.
func readProc(pid int) (procStats, error) {
	var s procStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return s, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("parse /proc stat: %w", err)
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parse VmHWM: %w", err)
			}
			s.peakRSS = kb << 10
		}
	}
	return s, nil
}

// resetPeakRSS starts a new peak RSS measurement of pid (Linux 4.0+; a
// failure leaves the lifetime peak, which is still an upper bound).
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200)
}
