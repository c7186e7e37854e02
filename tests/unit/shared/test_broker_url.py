"""Broker URLs: the one setting that tells every part where its campus broker is."""

from __future__ import annotations

import pytest

from shared.mqtt.broker import BrokerAddress, BrokerUrlError, parse_broker_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883)),
        ("mqtt://broker.dg.local:1884", BrokerAddress("broker.dg.local", 1884)),
        ("mqtts://broker.dg.local", BrokerAddress("broker.dg.local", 8883, tls=True)),
        (" mqtt://edge@10.0.0.5:1883/ ", BrokerAddress("10.0.0.5", 1883, username="edge")),
        ("mqtt://[::1]:1999", BrokerAddress("::1", 1999)),
        (
            "mqtt://127.0.0.1:1999?protocol=3.1.1",
            BrokerAddress("127.0.0.1", 1999, protocol="3.1.1"),
        ),
    ],
)
def test_accepted_forms(text: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(text) == expected


def test_url_round_trips() -> None:
    for text in ("mqtts://u@h:8884", "mqtt://[::1]:1999", "mqtt://h:1?protocol=3.1.1"):
        assert parse_broker_url(text).url == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tcp://h:1883", "mqtt://"),
        ("mqtt://:1883", "no host"),
        ("mqtt://u:secret@h", "password"),
        ("mqtt://h:99999", "malformed"),
        ("mqtt://h/pacs", "only a host"),
        ("mqtt://h?protocol=4", "5 or 3.1.1"),
        ("mqtt://h?x=1", "only a host"),
    ],
)
def test_refused_with_a_sentence(text: str, says: str) -> None:
    with pytest.raises(BrokerUrlError, match=says) as caught:
        parse_broker_url(text)
    assert "MQTT" in str(caught.value)
