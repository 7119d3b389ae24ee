package runner

import (
	"bytes"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// superviseInterval is how often the supervisor looks for orphans besides
// when a child exits (SIGCHLD) and when a run ends; signals coalesce.
const superviseInterval = 5 * time.Second

// scanSpacing is the least time between two looks for orphans.
const scanSpacing = 20 * time.Millisecond

// retryInterval is how soon the supervisor looks again at an orphan whose
// environment it could not read (it was in the middle of execve).
const retryInterval = 20 * time.Millisecond

// sup is the running supervisor, nil unless Supervise was called.
var sup atomic.Pointer[supervisor]

// Supervise makes metricwrap answer for every process its runs start, also
// those that leave the run's process group on purpose (setsid) or outlive
// their parent. As PID 1 (a container's entrypoint) orphans are
// re-parented to it by the kernel; otherwise it becomes a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER), so orphans of its runs are re-parented to
// it rather than to init. Then, on SIGCHLD, at the end of a run and every
// few seconds (at most once every scanSpacing), it reaps re-parented zombies, and kills a live
// orphan once the run it came from has ended: the run is known by the
// METRICS_FILE in the orphan's environment, else it is any run in progress
// when the orphan was first seen. An orphan that appears while no run is
// in progress (a `docker exec` session's, say) is only reaped.
//
// Call it once, from main, before any run: it relies on every child of
// this process being started by this package (they are registered, so
// their exit status is left to their own Wait). It returns a function that
// stops supervising.
func Supervise(log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pid1 := os.Getpid() == 1
	if !pid1 {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
			log.Warn("cannot become a child subreaper; a process that leaves its run's group may outlive the run", "err", errno)
			return func() {}
		}
	}
	s := &supervisor{log: log, runs: map[uint64]string{}, orphans: map[int]*orphan{}, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	sup.Store(s)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(superviseInterval)
		defer t.Stop()
		// Scans are spaced by scanSpacing: a busy server ends runs and
		// gets SIGCHLDs by the thousand a second, and each look costs a
		// read of /proc. A request within the spacing is remembered and
		// served when it is over, so a lone run's end is looked at at once.
		var retry, spaced <-chan time.Time
		pending := true
		for {
			if pending && spaced == nil {
				pending, retry = false, nil
				if !s.nothingToDo() && s.scan() {
					retry = time.After(retryInterval)
				}
				spaced = time.After(scanSpacing)
			}
			select {
			case <-s.done:
				return
			case <-sigs:
				pending = true
			case <-s.wake:
				pending = true
			case <-t.C:
				pending = true
			case <-retry:
				pending = true
			case <-spaced:
				spaced = nil
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(s.done)
			wg.Wait()
			sup.Store(nil)
			if !pid1 {
				_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
			}
		})
	}
}

// SupervisorCounts says how many orphans the supervisor has reaped and
// killed so far (zero without Supervise).
func SupervisorCounts() (reaped, killed uint64) {
	if s := sup.Load(); s != nil {
		return s.reaped.Load(), s.killed.Load()
	}
	return 0, 0
}

// supervisor tracks the runs in progress and the orphans re-parented to us.
type supervisor struct {
	log  *slog.Logger
	done chan struct{}
	wake chan struct{} // a run ended: look for what it left

	mu      sync.Mutex
	nextRun uint64
	runs    map[uint64]string // run id -> METRICS_FILE of runs in progress
	orphans map[int]*orphan   // live orphans seen, by pid (ours until reaped, so never reused)

	reaped, killed atomic.Uint64
}

// orphan is what the supervisor decided about a re-parented process when
// it first saw it.
type orphan struct {
	runs    []uint64 // the runs it may belong to; it dies once none is in progress
	foreign bool     // appeared while no run was in progress: never killed
}

// beginRun records a run in progress whose children see METRICS_FILE =
// marker; it returns the id to pass to endRun (0 when not supervising).
func beginRun(marker string) uint64 {
	s := sup.Load()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextRun++
	s.runs[s.nextRun] = marker
	return s.nextRun
}

// endRun ends run id and has the supervisor look for the orphans it left:
// at once, or within scanSpacing of its last look.
func endRun(id uint64) {
	s := sup.Load()
	if s == nil || id == 0 {
		return
	}
	s.mu.Lock()
	delete(s.runs, id)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// nothingToDo reports whether a scan would find nothing: no orphan is
// tracked and every child of ours is a registered one, so nothing was
// re-parented to us.
func (s *supervisor) nothingToDo() bool {
	s.mu.Lock()
	tracked := len(s.orphans)
	s.mu.Unlock()
	return tracked == 0 && onlyRegisteredChildren()
}

// scan reaps zombie orphans and kills live orphans of ended runs, and
// reports whether an orphan could not be attributed yet (see attribute),
// so the caller looks again shortly. It holds
// children.startMu for writing, so every child being started is already
// registered and is never mistaken for an orphan.
func (s *supervisor) scan() (again bool) {
	children.startMu.Lock()
	defer children.startMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int]bool{}
	for _, pid := range ourChildren() {
		if isRegistered(pid) {
			continue
		}
		state, ok := procState(pid)
		if !ok {
			continue
		}
		if state == 'Z' {
			var ws syscall.WaitStatus
			if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid {
				s.reaped.Add(1)
			}
			continue
		}
		seen[pid] = true
		o := s.orphans[pid]
		if o == nil {
			if o = s.attribute(pid); o == nil {
				again = true
				continue
			}
			s.orphans[pid] = o
		}
		if o.foreign || s.inProgress(o.runs) {
			continue
		}
		// Still our child, unreaped: the pid cannot have been reused.
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			s.killed.Add(1)
			s.log.Debug("killed a process a finished run left behind", "pid", pid)
		}
	}
	for pid := range s.orphans {
		if !seen[pid] {
			delete(s.orphans, pid)
		}
	}
	return again
}

// attribute finds the runs an orphan may belong to, under s.mu.
// It returns nil when the orphan's environment cannot be read yet: a
// process in the middle of execve (setsid(1) exec'ing its command) shows
// an empty environ for a moment, and taking that for "no METRICS_FILE"
// would call a run's escapee foreign forever. The next scan asks again.
func (s *supervisor) attribute(pid int) *orphan {
	marker, readable := environValue(pid, "METRICS_FILE")
	if !readable {
		return nil
	}
	if marker != "" {
		for id, m := range s.runs {
			if m == marker {
				return &orphan{runs: []uint64{id}}
			}
		}
		return &orphan{} // its run has ended
	}
	if len(s.runs) == 0 {
		return &orphan{foreign: true}
	}
	o := &orphan{}
	for id := range s.runs {
		o.runs = append(o.runs, id)
	}
	return o
}

func (s *supervisor) inProgress(ids []uint64) bool {
	for _, id := range ids {
		if _, ok := s.runs[id]; ok {
			return true
		}
	}
	return false
}

// ourChildren lists the children of this process's main thread, where the
// kernel puts every orphan re-parented to us (the first live thread of the
// reaper, and Go's main thread never exits): one small file read. Children other threads forked are the
// runner's own, registered ones. Without /proc/PID/task/PID/children it
// scans every /proc/PID/stat for our pid as parent.
func ourChildren() []int {
	self := os.Getpid()
	if b, err := os.ReadFile(childrenFile()); err == nil {
		var pids []int
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := statFields(pid); ok && ppid == self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childrenFile lists the children of the main thread, the one the kernel
// re-parents orphans to (the thread group leader, which a Go program never
// ends).
var childrenFile = sync.OnceValue(func() string {
	self := strconv.Itoa(os.Getpid())
	return "/proc/" + self + "/task/" + self + "/children"
})

// onlyRegisteredChildren reports whether every child in childrenFile is one
// this package started and still waits for, read with three system calls
// and no allocation beyond the name: the check before every scan, which
// is then not needed. False when it cannot tell (the full scan
// decides then), also for a child being started and not yet registered.
func onlyRegisteredChildren() bool {
	fd, err := syscall.Open(childrenFile(), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer func() { _ = syscall.Close(fd) }()
	// A pooled buffer: one on the stack escapes through syscall.Read.
	pooled := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(pooled)
	buf := *pooled
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n == len(buf) {
		return false // more children than fit: let the scan read them
	}
	// Space-separated decimal pids, parsed in place up to a 0 put after them.
	buf[n] = 0
	pid, digits := 0, 0
	for _, c := range buf[:n+1] {
		switch {
		case c >= '0' && c <= '9' && digits < 10:
			pid, digits = pid*10+int(c-'0'), digits+1
		case c == ' ' || c == '\n' || c == 0:
			if digits > 0 && !isRegistered(pid) {
				return false
			}
			pid, digits = 0, 0
		default:
			return false
		}
	}
	return true
}

// procState returns the state letter of pid.
func procState(pid int) (byte, bool) {
	state, _, ok := statFields(pid)
	return state, ok
}

// statFields reads the state and parent pid from /proc/PID/stat.
func statFields(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, err == nil
}

// environValue returns the value of name in pid's environment.
func environValue(pid int, name string) (value string, readable bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return "", false
	}
	prefix := []byte(name + "=")
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", true
}
