package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the service's output copier and
// the test to use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServiceStopKillsItsGroup starts a service that leaves a grandchild
// running and ignores SIGTERM; Stop must leave neither, nor a zombie.
func TestServiceStopKillsItsGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	body := `trap '' TERM; sleep 300 & echo $$ $! > ` + pids + `; echo started; read x <&3; sleep 300`
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out syncBuffer
	svc, err := StartService(ServiceSpec{
		Path: "/bin/sh", Args: []string{"-c", body}, Env: BaseEnv(), Dir: t.TempDir(),
		ExtraFiles: []*os.File{r}, Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readPids(t, pids, 2)
	if got[0] != svc.Pid() {
		t.Fatalf("service pid %d, want %d", svc.Pid(), got[0])
	}
	w.Close() // the service's "read" returns; it goes on sleeping
	svc.Stop(100 * time.Millisecond)
	select {
	case <-svc.Exited():
	default:
		t.Fatal("Stop returned before the service exited")
	}
	for _, pid := range got {
		waitGone(t, pid)
	}
	if z := zombieChildren(t); len(z) > 0 {
		t.Errorf("zombies left: %v", z)
	}
	if !strings.Contains(out.String(), "started") {
		t.Errorf("stdout = %q, want the service's output", out.String())
	}
}

// TestServiceExitKillsItsGroup: a service that exits on its own takes what
// it left in its group with it.
func TestServiceExitKillsItsGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	svc, err := StartService(ServiceSpec{
		Path: "/bin/sh", Args: []string{"-c", `sleep 300 & echo $! > ` + pids + `; exit 3`}, Env: BaseEnv(),
	})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.Exited()
	got := readPids(t, pids, 1)
	waitGone(t, got[0])
}

func TestServiceStartError(t *testing.T) {
	_, err := StartService(ServiceSpec{Path: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), ErrStart.Error()) {
		t.Fatalf("err = %v, want ErrStart", err)
	}
}
