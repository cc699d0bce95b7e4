package peak

import (
	"errors"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
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

// Resolve turns the configured method into the one to use with a kernel
// whose status is st.
func Resolve(configured string, st auditclient.Status) (emit.Method, error) {
	switch configured {
	case conf.MethodSampled:
		return emit.MethodSampled, nil
	case conf.MethodKernel:
		if !st.HasMaxDepth {
			return "", errors.New("method = kernel, but this kernel has no backlog_max_depth (its AUDIT_GET status lacks the field); use method = auto or sampled")
		}
		return emit.MethodKernel, nil
	default:
		if st.HasMaxDepth {
			return emit.MethodKernel, nil
		}
		return emit.MethodSampled, nil
	}
}
