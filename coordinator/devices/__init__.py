"""Devices: which gateways and meters exist, who owns them, how they join.

- `registry`: gateway keys and meters the coordinator accepts readings from;
- `enrolment`: one-time tokens and their redemption rules (pure);
- `broker_accounts`: the gateways' MQTT accounts rendered for the broker.

May import `wire`, `coordinator.db` and `coordinator.config`; nothing that
reads, trades or settles.
"""
