// Package transparency computes transparency reports: per agency and per
// month, what it asked of the neighborhood and what it received, and per
// issuer, which agencies it certified and revoked.
//
// A report is computed only from signed records this node holds, through
// the views of package requests: each agency's log (its requests, their
// updates and the Yield records that count what it received), the proven
// yield omissions of homes, equivocation proofs, and the issuers'
// credentials and revocations. Nothing depends on this node's own state or
// clock except the credential status (judged at Options.Now), so any
// member holding the same records reproduces the same figures; each agency
// row names the last position of its log the figures cover (log_head), to
// tell when two nodes hold different amounts of it.
//
// # Figures
//
// Months are UTC calendar months of a request's created time (the time its
// agency signed it). An agency's months run from its first request in the
// report (or the month of Options.Since) to its last, empty months
// included. Per month:
//
//	requests, open, closed   requests made that month, and their status
//	                         as the agency's log stands now
//	area_hours               sum of area (square miles) × window (hours)
//	clips, homes             the requests' yield: clips received and
//	                         distinct homes that shared (Yield records)
//	yield_bytes, video_seconds  bytes and seconds of video received
//	clips_per_request,       clips / requests and homes / requests
//	homes_per_request
//	median_hours_to_close    median over the month's closed requests of
//	                         (close time − created time), in hours; empty
//	                         when none is closed
//	yield_omissions          proven omissions for the month's requests
//
// Floating-point figures are rounded to three decimals. Output is sorted:
// agencies by name then ID, months in order, issuers by ID. The CSV (one
// row per agency and month) is the table a journalist loads; the JSON
// carries the same rows plus per-agency totals and the issuers.
package transparency
