package peak

import (
	"errors"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
)

// Kernel is the audit status the loop samples (AUDIT_GET). The loop's
// kernel worker closes it when the loop is done with it.
type Kernel interface {
	Status() (auditclient.Status, error)
	Close() error
}

// A Source measures peaks exactly: it reads the highest depth the queue
// reached since its previous reading and starts the next interval at
// zero, atomically, so that no peak is lost or counted twice. Without a
// Source the loop measures peaks by sampling the backlog.
//
// Take runs on the loop's kernel worker, never on the loop itself, so it
// may block (the kernel holds audit netlink senders while its backlog is
// over its limit). Close releases what the source owns.
type Source interface {
	Take() (Reading, error)
	Close() error
}

// Reading is what a Source read.
type Reading struct {
	// Peak is the highest queue depth since the previous reading.
	Peak uint32
	// Method names the source in the reports.
	Method emit.Method
	// Mark says the reading reset the kernel's backlog_max_depth, which
	// other tools can reset too and whose reset writes a CONFIG_CHANGE
	// record that comes back through auditd.
	Mark bool
	// Probe is the eBPF probe's whole snapshot of the interval, nil for
	// other sources.
	Probe *probe.Snapshot
}

// Mark is the kernel's high-water mark, backlog_max_depth, read and zeroed
// by AUDIT_SET (auditclient.Client.ResetMaxDepth).
type Mark struct {
	// Resetter is the kernel client; Mark does not own it.
	Resetter interface{ ResetMaxDepth() (uint32, error) }
}

// Take resets the mark; its old value is the peak.
func (m Mark) Take() (Reading, error) {
	old, err := m.Resetter.ResetMaxDepth()
	return Reading{Peak: old, Method: emit.MethodKernel, Mark: true}, err
}

// Close does nothing: the client is the loop's Kernel, closed as such.
func (m Mark) Close() error { return nil }

// Probe is the eBPF probe of the kernel's audit queue (package
// auditclient/probe), which sees every record queued: an exact source on
// kernels without backlog_max_depth. Nobody else resets it, and reading
// it makes no system call.
type Probe struct {
	// Probe is the attached probe, which Close detaches.
	Probe interface {
		ReadAndReset() (probe.Snapshot, error)
		Close() error
	}
	// RetryHold and LostByCause say which of the snapshot's figures the
	// probe measures (probe.Info).
	RetryHold, LostByCause bool
}

// Take reads the probe's interval and starts the next one at zero.
func (p Probe) Take() (Reading, error) {
	s, err := p.Probe.ReadAndReset()
	if err != nil {
		return Reading{}, err
	}
	return Reading{Peak: s.MaxDepth, Method: emit.MethodEBPF, Probe: &s}, nil
}

// Close detaches the probe.
func (p Probe) Close() error { return p.Probe.Close() }

// ErrNoProbe is Resolve's error for method = ebpf without a probe.
var ErrNoProbe = errors.New("method = ebpf, but the eBPF probe is not attached (it is attached at start only; see the log for why it could not be); use method = auto or sampled, or restart the plugin")

// Resolve turns the configured method into the one to use with a kernel
// whose status is st; haveProbe says whether the eBPF probe is attached.
// auto prefers the kernel's mark, then the probe, then sampling.
func Resolve(configured string, st auditclient.Status, haveProbe bool) (emit.Method, error) {
	switch configured {
	case conf.MethodSampled:
		return emit.MethodSampled, nil
	case conf.MethodKernel:
		if !st.HasMaxDepth {
			return "", errors.New("method = kernel, but this kernel has no backlog_max_depth (its AUDIT_GET status lacks the field); use method = auto, ebpf or sampled")
		}
		return emit.MethodKernel, nil
	case conf.MethodEBPF:
		if !haveProbe {
			return "", ErrNoProbe
		}
		return emit.MethodEBPF, nil
	default:
		switch {
		case st.HasMaxDepth:
			return emit.MethodKernel, nil
		case haveProbe:
			return emit.MethodEBPF, nil
		}
		return emit.MethodSampled, nil
	}
}

// WantsProbe says whether the configured method may use the eBPF probe on
// a kernel whose status is st, so that the probe should be attached at
// start (the only time the plugin has the privileges to).
func WantsProbe(configured string, st auditclient.Status) bool {
	return configured == conf.MethodEBPF || (configured == conf.MethodAuto && !st.HasMaxDepth)
}
