package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/porchlight-mesh/porchlight/member"
	"github.com/porchlight-mesh/porchlight/mesh"
)

// anchorReport writes the anchor section: summary rows compare the
// reservations phases with the baseline phases (means over rounds).
func anchorReport(e *env, r *anchorRoster, warm *phaseResult, results []*phaseResult, rosterTime, membersTime time.Duration) *section {
	s := &section{title: "Anchor"}
	var base, resv []*phaseResult
	for _, p := range results {
		if p.mode == "reservations" {
			resv = append(resv, p)
		} else {
			base = append(base, p)
		}
	}
	mean := func(ps []*phaseResult, f func(*phaseResult) float64) float64 {
		var v float64
		for _, p := range ps {
			v += f(p)
		}
		return v / float64(max(1, len(ps)))
	}
	worst := func(ps []*phaseResult, f func(*phaseResult) float64) float64 {
		var v float64
		for _, p := range ps {
			v = max(v, f(p))
		}
		return v
	}
	n := len(r.keys)
	cpu := func(p *phaseResult) float64 { return p.cpuPct }
	rssMax := func(p *phaseResult) float64 { return float64(p.rssMax) }
	rssEnd := func(p *phaseResult) float64 { return float64(p.rssEnd) }
	hwm := func(p *phaseResult) float64 { return float64(p.hwm) }
	rc, bc := mean(resv, cpu), mean(base, cpu)
	rounds := ""
	if len(resv) > 1 {
		rounds = fmt.Sprintf(", mean of %d rounds", len(resv))
	}
	s.add(row{
		metric:   fmt.Sprintf("anchor CPU, %d members with reservations, %s%s", n, postRate(), rounds),
		result:   fmt.Sprintf("%.1f %% of one core", rc),
		baseline: fmt.Sprintf("no reservations: %.1f %%", bc),
		ratio:    ratio(rc, bc),
		target:   "≤ 10 %",
		met:      met(worst(resv, cpu) <= targetAnchorCPU),
	})
	rm, bm := worst(resv, rssMax), worst(base, rssMax)
	s.add(row{
		metric:   "anchor VmRSS, peak in the window (sampled every second)",
		result:   mib(int64(rm)),
		baseline: "no reservations: " + mib(int64(bm)),
		ratio:    ratio(rm, bm),
		target:   "≤ 96 MiB",
		met:      met(rm <= targetAnchorRSSMiB<<10),
	})
	re, be := mean(resv, rssEnd), mean(base, rssEnd)
	s.add(row{metric: "anchor VmRSS at the end of the window", result: mib(int64(re)), baseline: "no reservations: " + mib(int64(be)), ratio: ratio(re, be)})
	rh, bh := worst(resv, hwm), worst(base, hwm)
	s.add(row{metric: fmt.Sprintf("anchor VmHWM (peak since its start, %d handshakes included)", n), result: mib(int64(rh)), baseline: "no reservations: " + mib(int64(bh)), ratio: ratio(rh, bh)})
	for _, p := range resv {
		s.add(row{
			metric: fmt.Sprintf("reservations held at the end of the window (round %d)", p.round),
			result: fmt.Sprintf("%d of %d (anchor's metric: %s)", p.heldEnd, n, p.metricRes),
			target: fmt.Sprint(n),
			met:    met(p.heldEnd == n),
		})
	}
	for _, p := range resv {
		switch {
		case p.pair != nil:
			s.add(row{
				metric:   "bytes relayed per post (net of the idle circuit's), a pair connected only through the anchor's circuit",
				result:   fmt.Sprintf("%.0f B", p.pair.relayBytes),
				baseline: fmt.Sprintf("post record: %d B", p.pair.recordBytes),
				ratio:    ratio(p.pair.relayBytes, float64(p.pair.recordBytes)),
			})
		case p.pairErr != "":
			s.add(row{metric: "bytes relayed per post, a pair connected only through the anchor's circuit", result: "not measured: " + p.pairErr})
		}
	}

	s.printf("The anchor is the real binary (`go build ./cmd/porchlight`) as a child process: `%s`, ", strings.TrimSpace("porchlight --data D run --no-mdns --api 127.0.0.1:0 --listen "+anchorListenShape()+" "+*anchorFlags))
	if *anchorEnv != "" {
		s.printf("Its environment adds `%s` (-anchor-env). ", *anchorEnv)
	}
	if *anchorPlain {
		s.printf("a plain member node (-anchor-plain: `anchor = false`, no relay service). ")
	} else {
		s.printf("with `anchor = true` in D's `config.toml` (the same as `run --anchor`): relay service, AutoNAT and peer records for members, reachability taken as public. ")
	}
	s.printf("D is founded with `node.Found` (an invite-only neighborhood, the anchor its founder and steward); the founder then signs %d invites of up to %d uses and admits %d homes with `member.Service` (`CreateInvite`, `Admit` of each home's claim) on D's store: a roster of %d, %d documents signed by the founder (%.1f s). ",
		(n+member.MaxUses-1)/member.MaxUses, member.MaxUses, n, n+1, r.docs, rosterTime.Seconds())
	s.printf("The %d homes are simulated in the bench process (%.1f s to start): each a real `mesh.Mesh` (libp2p host reaching the anchor over %s, gossipsub, sync, the membership handshake whose proof is the charter and its admission) on a Badger store of its own, with the anchor as its static peer (redialled when disconnected). ",
		n, membersTime.Seconds(), strings.ToUpper(*anchorTransport))
	s.printf("Homes 2 to %d listen on a loopback address of their own (127.1.x.y) and dial the anchor from it (go-libp2p reuses the listening port), so that the anchor sees one address per home, as on a street (it grants at most %d reservations per address); homes 0 and 1, the relayed pair, close their listener after start (homes behind NAT, which nobody can dial; their `/p2p-circuit` listener stays). ", n-1, mesh.MaxReservationsPerIP)
	s.printf("The homes are connected to the anchor only, a star: every post goes through it. They do not ask anyone for peer records (`NoPeerExchange`), which would connect them to each other directly here, where homes behind real NATs would be hole-punched; the anchor's rendezvous answers are not in the figures.\n\n")
	s.printf("First contact (not measured): the anchor starts, and the fresh homes dial it, complete their handshakes and fetch the roster's documents; all %d were its neighbors %.1f s after they dialled, from %d addresses; the anchor's VmHWM then was %s. The anchor is stopped.\n\n",
		n, warm.connectTime.Seconds(), warm.sourceIPs, mib(warm.hwm))
	s.printf("Each measured phase starts the anchor again on the same data directory and port, waits until every home has completed its handshake with it, then:\n\n")
	s.printf("- **reservations**: every home holds a relay reservation on the anchor. The homes' own AutoRelay reserves by itself (the mesh offers every connected neighbor that serves relay as an anchor candidate); the bench also calls go-libp2p circuit v2 `client.Reserve` over each home's connection so that all hold one before the window (the same reservation: one per home), and makes one again within 5 s if its connection closes;\n")
	s.printf("- **baseline**: the same homes, connected the same way, but no reservation: plain member neighbors. Each home drops the relay hop protocol from what its peerstore says the anchor supports as soon as identify reports it (event bus), so that neither the mesh's anchor candidates nor AutoRelay pick the anchor; a home whose AutoRelay reserved before that (its `porchlight_relay_reservations_held`) has its connection to the anchor closed, which ends the reservation, and redials. The anchor's reservations gauge at the window's start and end shows whether one slipped through.\n\n")
	s.printf("Then %s of settling, then the window of %s: one post (%d bytes of text) every %s, from the homes in turn; the anchor's CPU is the change of utime+stime in `/proc/PID/stat` over the window, as %% of one core; VmRSS is read from `/proc/PID/status` every second; VmHWM at the end. ",
		*anchorSettle, *anchorWindow, e.p.textLen, *anchorInterval)
	s.printf("Reservations held are counted on the bench side (a reservation on a connection still open) and read from the anchor's `/metrics`. Delivery counts the homes that stored each post (`OnRecord`) within the window and 5 s more.\n\n")

	cols := []string{}
	for _, p := range results {
		cols = append(cols, fmt.Sprintf("%s (round %d)", p.mode, p.round))
	}
	s.printf("| |%s|\n|---|%s\n", " "+strings.Join(cols, " | ")+" ", strings.Repeat("---:|", len(cols)))
	line := func(name string, f func(*phaseResult) string) {
		s.printf("| %s |", name)
		for _, p := range results {
			s.printf(" %s |", f(p))
		}
		s.printf("\n")
	}
	line("all homes neighbors, after they dialled the anchor", func(p *phaseResult) string { return fmt.Sprintf("%.1f s", p.connectTime.Seconds()) })
	line("reservations made before the window", func(p *phaseResult) string {
		if p.mode != "reservations" {
			return "–"
		}
		return fmt.Sprint(p.reserved)
	})
	line("reservations held at the end (bench side)", func(p *phaseResult) string {
		if p.mode != "reservations" {
			return "–"
		}
		return fmt.Sprint(p.heldEnd)
	})
	line("reservations served, the anchor's metric at the window's start", func(p *phaseResult) string { return or(p.metricResStart) })
	line("reservations served, the anchor's metric at the end", func(p *phaseResult) string { return p.metricRes })
	line("times a home dropped the anchor's relay protocol from its peerstore", func(p *phaseResult) string {
		if p.mode != "baseline" {
			return "–"
		}
		return fmt.Sprint(p.hidden)
	})
	line("homes reconnected to end a reservation made before the relay was hidden", func(p *phaseResult) string {
		if p.mode != "baseline" {
			return "–"
		}
		return fmt.Sprint(p.strays)
	})
	line("anchor CPU, % of one core", func(p *phaseResult) string { return fmt.Sprintf("%.1f %%", p.cpuPct) })
	line("anchor VmRSS, peak in the window", func(p *phaseResult) string { return mib(p.rssMax) })
	line("anchor VmRSS, end", func(p *phaseResult) string { return mib(p.rssEnd) })
	line("anchor VmHWM (since start)", func(p *phaseResult) string { return mib(p.hwm) })
	line("anchor's peers (status), window start → end", func(p *phaseResult) string { return fmt.Sprintf("%d → %d", p.peersStart, p.peersEnd) })
	line("home↔anchor connections closed in the window", func(p *phaseResult) string { return fmt.Sprint(p.disconnects) })
	line("reservations made again in the window", func(p *phaseResult) string { return fmt.Sprint(p.reReserved) })
	line("posts", func(p *phaseResult) string { return fmt.Sprint(p.posts) })
	line("deliveries (post × other home)", func(p *phaseResult) string {
		return fmt.Sprintf("%d of %d (%.1f %%)", p.delivered, p.want, 100*float64(p.delivered)/float64(max(1, p.want)))
	})
	line("delivery time, median", func(p *phaseResult) string { return ms(p.latency.median) })
	line("delivery time, p99", func(p *phaseResult) string { return ms(p.latency.p99) })
	line("load average, window start", func(p *phaseResult) string { return p.load.loadavgStart })
	line("load average, window end", func(p *phaseResult) string { return p.load.loadavgEnd })
	line(fmt.Sprintf("CPU in the window, cores: anchor / bench (%d homes) / other processes", n), func(p *phaseResult) string {
		return fmt.Sprintf("%.2f / %.2f / %.2f", p.load.anchor, p.load.bench, p.load.other())
	})
	line("steal", func(p *phaseResult) string { return fmt.Sprintf("%.1f %%", p.load.steal) })
	s.printf("\nRatios (reservations / baseline): CPU %s, VmRSS peak %s, end %s. MiB = 1024 KiB.\n\n", ratio(rc, bc), ratio(rm, bm), ratio(re, be))

	for _, p := range results {
		if len(p.changed) == 0 {
			continue
		}
		s.printf("The anchor's `porchlight_*_total` counters that changed during the window, %s phase (round %d):\n\n", p.mode, p.round)
		for _, l := range p.changed {
			s.printf("    %s\n", l)
		}
		s.printf("\n")
	}
	for _, p := range resv {
		for _, e := range p.reserveErrs {
			s.printf("- Round %d, reservation refused: %s\n", p.round, e)
		}
		if len(p.reserveErrs) > 0 {
			s.printf("\n")
		}
		if p.pair != nil {
			pr := p.pair
			s.printf("**Relayed pair** (round %d, after the window): home 1 connects to home 0 through the anchor's circuit (`/p2p-circuit`; home 0 holds a reservation; neither listens, so no direct path exists and DCUtR has nothing to punch); the handshake completed %.2f s after the dial. ", p.round, pr.connect.Seconds())
			s.printf("First the circuit idles for %.0f s: %.0f bytes relayed (%.0f B/s: pings, periodic sync). Then the two post in turn, %d posts %s apart, each waited for on the other side, and %s more after the last: %.0f bytes relayed in %.1f s (the anchor's `%s`, both directions of the circuit), %.0f bytes per post net of the idle rate, for post records of %d bytes. ",
				pr.idleFor.Seconds(), pr.idleBytes, pr.idleBytes/pr.idleFor.Seconds(), pr.posts, pairGap, pairTail, pr.grossBytes, pr.exchangeFor.Seconds(), relayBytesMetric, pr.relayBytes, pr.recordBytes)
			s.printf("Both homes are also the anchor's gossip neighbors, so a post reaches the other side by the anchor's gossip too; the circuit carries the sync rounds. Delivery median %s, p99 %s. Connections between the two were circuits only throughout: %v.\n\n", ms(pr.latency.median), ms(pr.latency.p99), pr.relayed)
		} else if p.pairErr != "" {
			s.printf("**Relayed pair** (round %d): not measured: %s\n\n", p.round, p.pairErr)
		}
		if len(p.metricsLines) > 0 {
			s.printf("The anchor's relay, reservation, hole-punching and AutoNAT metrics at the end of round %d's window:\n\n", p.round)
			for _, l := range p.metricsLines {
				s.printf("    %s\n", l)
			}
			s.printf("\n")
		}
	}
	return s
}

// postRate says -anchor-interval in words.
func postRate() string {
	if *anchorInterval == time.Second {
		return "one post a second"
	}
	return fmt.Sprintf("one post every %s", *anchorInterval)
}

func anchorListenShape() string {
	if *anchorTransport == "quic" {
		return "/ip4/127.0.0.1/udp/PORT/quic-v1"
	}
	return "/ip4/127.0.0.1/tcp/PORT"
}
