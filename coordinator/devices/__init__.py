"""Devices: which gateways and meters exist, who owns them, how they join.

- `registry`: gateway keys and meters the coordinator accepts readings from;
- `enrolment`: one-time tokens and their redemption rules (pure);
- `broker_accounts`: the gateways' MQTT accounts on the broker;
- `dynsec`: the production broker's roles and accounts as data (pure), and
  `broker_control`: the commands that change them at run time.

May import `wire`, `coordinator.db` and `coordinator.config`; nothing that
reads, trades or settles.
"""
