package mqtt

// Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
// one retained config per entity at
// <discovery_prefix>/<component>/<object id>/<entity>/config.

// Availability is one entry of a discovery config's availability list.
type Availability struct {
	Topic               string `json:"topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

// Device is the device entry every entity of the node names.
type Device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// Origin names the software that published a config.
type Origin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

// Discovery is one entity's discovery config.
type Discovery struct {
	Name              string         `json:"name"`
	UniqueID          string         `json:"unique_id"`
	StateTopic        string         `json:"state_topic"`
	ValueTemplate     string         `json:"value_template,omitempty"`
	PayloadOn         string         `json:"payload_on,omitempty"`
	PayloadOff        string         `json:"payload_off,omitempty"`
	StateClass        string         `json:"state_class,omitempty"`
	UnitOfMeasurement string         `json:"unit_of_measurement,omitempty"`
	EventTypes        []string       `json:"event_types,omitempty"`
	Icon              string         `json:"icon,omitempty"`
	Availability      []Availability `json:"availability"`
	AvailabilityMode  string         `json:"availability_mode"`
	Device            Device         `json:"device"`
	Origin            Origin         `json:"origin"`
}

type discoveryMsg struct {
	topic  string
	config Discovery
}

// discovery lists the node's entities.
func (b *Bridge) discovery() []discoveryMsg {
	avail := []Availability{{Topic: b.topic("availability"), PayloadAvailable: "online", PayloadNotAvailable: "offline"}}
	dev := Device{Identifiers: []string{b.obj}, Name: b.cfg.Name, Manufacturer: "Porchlight", Model: "Porchlight node", SWVersion: b.cfg.Version}
	origin := Origin{Name: "Porchlight", SWVersion: b.cfg.Version, SupportURL: "https://github.com/porchlight-mesh/porchlight"}
	state := b.topic("state")
	entity := func(component, key string, d Discovery) discoveryMsg {
		d.UniqueID = b.obj + "_" + key
		d.Availability, d.AvailabilityMode = avail, "all"
		d.Device, d.Origin = dev, origin
		if d.StateTopic == "" {
			d.StateTopic = state
			d.ValueTemplate = "{{ value_json." + key + " }}"
		}
		return discoveryMsg{topic: b.cfg.DiscoveryPrefix + "/" + component + "/" + b.obj + "/" + key + "/config", config: d}
	}
	return []discoveryMsg{
		entity("binary_sensor", "covering", Discovery{Name: "Request covers this home", PayloadOn: "ON", PayloadOff: "OFF", Icon: "mdi:police-badge"}),
		entity("sensor", "open_covering_requests", Discovery{Name: "Open requests covering this home", StateClass: "measurement", Icon: "mdi:clipboard-alert"}),
		entity("sensor", "neighbors", Discovery{Name: "Neighbors connected", StateClass: "measurement", Icon: "mdi:home-group"}),
		entity("sensor", "unread_posts", Discovery{Name: "Unread posts", StateClass: "measurement", Icon: "mdi:message-badge"}),
		entity("event", "request", Discovery{Name: "New covering request", StateTopic: b.topic("request"), EventTypes: []string{EventType}, Icon: "mdi:bell-alert"}),
	}
}
