// Package frigate imports the clips of Frigate, the NVR most home hubs
// run, as they are recorded: when Frigate says on MQTT that a tracked
// object's event ended with a clip, the importer downloads the clip from
// Frigate's HTTP API and imports it into the home's clip store (package
// clips) with the event's camera and start time. The clips stay in the
// home like any other: nothing here shares them.
//
// # What it relies on (Frigate 0.14)
//
// MQTT, on the broker of [mqtt]: <prefix>/events (prefix "frigate"), a
// JSON message per change of a tracked object:
//
//	{"type": "new"|"update"|"end",
//	 "after": {"id": "1607123955.475377-mxklsc", "camera": "front_door",
//	           "start_time": 1607123955.475377, "end_time": 1607123966.3,
//	           "has_clip": true, ...}, "before": {...}}
//
// Only "type", and "id", "camera" and "has_clip" of "after", are read
// from it. The HTTP API (Frigate's port 5000):
//
//	GET /api/events/<id>            the event: id, camera, start_time,
//	                                end_time, has_clip
//	GET /api/events/<id>/clip.mp4   the event's clip, video/mp4
//	GET /api/version                the version, for `porchlight doctor`
//
// # Trust
//
// Anyone on the LAN who can publish to the broker can send events, so an
// event message is only a hint: it is decoded with a size bound
// (MaxEventSize, enforced on the connection before the client library
// reads the packet), its ID must look like Frigate's, and what is
// imported comes from Frigate's own answer for that ID (camera, times,
// has_clip), checked against the camera filter again. A forged event can
// at most make the node import a clip this home's Frigate really holds,
// from an included camera, once. Clips over MaxClipSize are refused
// (Content-Length first, then the body is read through a limit),
// redirects are followed only within Config.URL, and the queue of events
// still to import holds at most MaxPending.
//
// # Once, and never in the way
//
// Events to import wait in a queue in the records database (table
// store.FrigatePending) and survive restarts; an event imported (or
// refused for good) is recorded in store.FrigateDone in the same
// transaction that takes it off the queue, so an event seen again, before
// or after a restart, is not imported twice. (A crash between the import
// and that transaction imports the clip again, which the clip store
// recognises by its content.) The MQTT handler only writes the queue; one
// worker downloads and imports, one clip at a time, retrying with backoff
// while Frigate is unreachable. A download that fails halfway stores
// nothing (clips.Store.Import) and is retried. The node never waits for
// Frigate or the broker: Start returns at once; Close is bounded.
//
// Events published while the node is not connected to the broker are not
// seen (Frigate publishes them at QoS 0, which brokers do not keep).
package frigate
