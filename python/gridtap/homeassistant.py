"""Home Assistant MQTT discovery: the retained config that makes a grid channel published by
`MqttPublisher(homeassistant=True)` appear in Home Assistant as a sensor, under
`{ha_prefix}/sensor/<node>/<grid_ns>_<Channel>/config`."""

from __future__ import annotations

import json
import re
from typing import Any

from gridtap.channels import CHANNELS, catalogue_for, channel_spec, split_channel

__all__ = ["discovery_config", "ha_id"]

# Home Assistant sensor metadata by gridtap unit: (device_class, unit_of_measurement).
_HA_KIND: dict[str, tuple[str | None, str | None]] = {
    "W": ("power", "W"),
    "VAR": ("reactive_power", "var"),  # HA's spelling of the unit
    "VA": ("apparent_power", "VA"),
    "": ("power_factor", None),  # −1..1, signed by P
    "Hz": ("frequency", "Hz"),
    "Hz/s": (None, "Hz/s"),
    "V": ("voltage", "V"),
    "A": ("current", "A"),
    "kWh": ("energy", "kWh"),
    "kVARh": (None, "kvarh"),
}


def ha_id(text: str) -> str:
    """`text` with everything but letters, digits, _ and - replaced: an id HA (and MQTT) accepts."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def discovery_config(
    channel: str, topic: str, *, prefix: str, status_topic: str, ha_prefix: str
) -> tuple[str, bytes] | None:
    """(topic, payload) of the discovery config of a grid channel published on `topic` by the
    publisher with topic `prefix` (None for other namespaces)."""
    namespace, name = split_channel(channel)
    if catalogue_for(namespace) is not CHANNELS:
        return None
    spec = channel_spec(channel)
    node, object_id = ha_id(prefix), ha_id(f"{namespace}_{name}")
    device_class, unit = _HA_KIND.get(spec.unit, (None, spec.unit or None))
    if spec.unit in ("kWh", "kVARh"):
        state_class = "total" if name == "EnergyNet" else "total_increasing"
    else:
        state_class = "measurement"
    config: dict[str, Any] = {
        "name": name.replace("_", " "),
        "unique_id": f"gridtap_{node}_{object_id}",
        "state_topic": topic,
        "value_template": "{{ value_json.value }}",  # null renders None: HA shows "unknown"
        "json_attributes_topic": topic,
        "json_attributes_template": (
            '{{ {"quality": value_json.quality, "timestamp": value_json.timestamp} | tojson }}'
        ),
        "availability_topic": status_topic,
        "state_class": state_class,
        "device": {
            "identifiers": [f"gridtap_{node}_{namespace}"],
            "name": f"{prefix} {namespace}",
            "manufacturer": "gridtap",
            "model": "grid meter",
        },
    }
    if device_class is not None:
        config["device_class"] = device_class
    if unit is not None:
        config["unit_of_measurement"] = unit
    return f"{ha_prefix}/sensor/{node}/{object_id}/config", json.dumps(config).encode()
