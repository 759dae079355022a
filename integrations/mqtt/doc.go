// Package mqtt publishes a home's Porchlight state to Home Assistant over
// MQTT, with Home Assistant's MQTT discovery: the node appears in Home
// Assistant as one device with no setup beyond the broker.
//
// # Topics
//
// O is the home's object ID, "porchlight_" and 12 hex digits of a hash of
// its peer ID (stable, and says nothing about where the home is); P is
// Config.TopicPrefix ("porchlight"), D is Config.DiscoveryPrefix
// ("homeassistant").
//
//	P/O/availability   "online" / "offline", retained; "offline" is the last will
//	P/O/state          JSON, retained: {"covering":"ON"|"OFF",
//	                   "open_covering_requests":N, "neighbors":N, "unread_posts":N}
//	P/O/request        JSON, not retained: one message per new covering request,
//	                   {"event_type":"covering_request","agency":..,"case":..,
//	                   "from":RFC3339,"to":RFC3339,"id":..}
//	D/binary_sensor/O/covering/config               discovery, retained
//	D/sensor/O/open_covering_requests/config        discovery, retained
//	D/sensor/O/neighbors/config                     discovery, retained
//	D/sensor/O/unread_posts/config                  discovery, retained
//	D/event/O/request/config                        discovery, retained
//
// Every discovery config names the state topic, the availability topic,
// a unique_id and the device. Nothing published carries the home's
// location, a request's area, a credential, the API token or the broker
// password.
//
// # What the bridge listens to
//
// Only D/status, Home Assistant's birth message: on "online" the bridge
// publishes its discovery configs and state again (Home Assistant forgets
// entities it learnt before its restart unless they are retained, and
// some brokers lose retained messages). Nothing that arrives over MQTT
// can act on the node: no consent, no share, no post travels this way.
// A message over MaxPacket bytes ends the connection before it is read
// into memory (the client library would allocate whatever length a
// broker announces, up to 256 MiB); birth messages are compared as short
// strings and republishing is rate-limited, so a broker spamming them
// costs a few publishes a second at most.
//
// # Never in the way
//
// The node never waits on the broker: Start returns at once and connects
// in the background; state changes are coalesced (Changed never blocks),
// events wait in a bounded queue (the oldest is dropped when it is full),
// and Close gives the broker at most CloseTimeout. The connection is
// retried with exponential backoff (1 s doubling to MaxBackoff); a broker
// that is down or refuses the login shows in Status (and so in `porchlight
// status` and `doctor`) and in the porchlight_mqtt_connected metric.
package mqtt
