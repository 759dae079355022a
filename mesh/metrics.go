package mesh

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	accepted    *prometheus.CounterVec // by store outcome
	rejected    *prometheus.CounterVec // by record.Reason
	syncRounds  *prometheus.CounterVec // by role and result
	syncRecords prometheus.Counter     // envelopes received by sync
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_records_validated_total",
			Help: "Valid records from the network or written locally, by outcome (added, duplicate, equivocation).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_records_rejected_total",
			Help: "Records refused, by reason.",
		}, []string{"reason"}),
		syncRounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "porchlight_sync_rounds_total",
			Help: "Catch-up sync rounds, by role (client, server) and result.",
		}, []string{"role", "result"}),
		syncRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "porchlight_sync_records_received_total",
			Help: "Envelopes received through catch-up sync.",
		}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.syncRounds, m.syncRecords} {
		// A second mesh on the same registry (tests) keeps the first one's
		// collectors; counting continues there.
		_ = r.Register(c)
	}
	return m
}

// Rejected returns how many records were refused for reason.
func (m *Mesh) Rejected(reason string) float64 {
	return counterValue(m.metrics.rejected.WithLabelValues(reason))
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return d.GetCounter().GetValue()
}

// SyncRounds returns how many sync rounds this node ran as role ("client"
// or "server") with the given result ("ok", "error", "refused", ...).
func (m *Mesh) SyncRounds(role, result string) float64 {
	return counterValue(m.metrics.syncRounds.WithLabelValues(role, result))
}
