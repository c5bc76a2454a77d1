"""The installer CLI: device keys, enrolment, broker credentials, gateway config.

It may import `wire` (the signed messages, topics, readings) and `edge` (the
gateway's key file, config and meter reading); it talks to the coordinator
over its HTTP API only and imports nothing of it.
"""
