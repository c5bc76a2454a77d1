"""The wire contract: what both ends of a connection must agree on, byte for byte.

Gateway, installer CLI, coordinator and on-chain layer all import this package;
it imports nothing of theirs (checked by the import contracts in pyproject.toml).

- `reading`: the signed reading v1, its canonical signed bytes and JSON payload;
- `base58`: Solana-style base58 (gateway ids are their Ed25519 public keys);
- `topics`: every MQTT topic name, the gateway's and the coordinator's;
- `health`: the gateway's retained health report and meter poll outcomes;
- `enrolment`: the messages a gateway key signs to enrol, rotate and call the API;
- `alerts`: the alert and ingest-stats payloads the coordinator publishes;
- `clearing`: the retained clearing publication (canonical inputs and result);
- `meters`: the meter models (register maps) both ends know by name;
- `certificate`: a granular certificate's Merkle leaf (the coordinator and gtx-verify).
- `text`: `printable`, which every CLI applies to strings from gateways and users.

`reading`, `base58` and `topics` run on MicroPython too (the gateway's portable
core): no dataclasses, no typing imports, no floats in signed data, no reliance
on dict order or `json.dumps`. The rest is CPython.
"""
