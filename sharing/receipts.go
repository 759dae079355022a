package sharing

import (
	"github.com/porchlight-mesh/porchlight/clips"
	"github.com/porchlight-mesh/porchlight/requests"
)

// startReceipts keeps the receipts agencies hand back for this home's
// clips (clips.ReceiptProtocol): the transfer records a yield omission
// proof carries (requests.PublishOmission).
func (s *Service) startReceipts() (*clips.ReceiptServer, error) {
	return clips.NewReceiptServer(clips.ReceiptServerConfig{
		Host: s.cfg.Host, Grants: s.grants, InNeighborhood: s.cfg.InNeighborhood, Logger: s.cfg.Logger,
	})
}

// Receipts is this home's grant book as omission proofs read it: its
// grants, and the receipts their grantees handed back.
func (s *Service) Receipts() requests.OmissionSource { return s.grants }
