"""The edge gateway on the campus MQTT broker (publisher, embedded broker)."""
