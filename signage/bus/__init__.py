"""The board's MQTT client (paho-mqtt 2.x): subscriptions, birth and last will."""
