package mesh

import (
	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// GossipSubParams returns the gossipsub parameters a node runs with.
func GossipSubParams() pubsub.GossipSubParams {
	return pubsub.DefaultGossipSubParams()
}

// gossipOptions sets the node's gossipsub parameters, then applies extra
// (Config.PubSubOptions, for simulations) so that they can override them.
func gossipOptions(extra []pubsub.Option) pubsub.Option {
	return func(ps *pubsub.PubSub) error {
		if err := pubsub.WithGossipSubParams(GossipSubParams())(ps); err != nil {
			return err
		}
		for _, o := range extra {
			if err := o(ps); err != nil {
				return err
			}
		}
		return nil
	}
}
