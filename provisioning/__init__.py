"""The installer CLI: device keys, enrolment, broker credentials, gateway config."""
