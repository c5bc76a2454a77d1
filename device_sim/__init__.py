"""Simulated AMI meters served over Modbus, with realistic PV and load profiles."""
