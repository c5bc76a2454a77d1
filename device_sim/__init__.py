"""Simulated AMI meters served over Modbus, with realistic PV and load profiles.

`meter` (counters integrated from `profiles`, demand), `clock` (accelerated
simulated time), `devices` (the published registers and ratings of the real
meters of the gateway's `edge/maps`), `electrical` (every quantity behind
those registers, consistent with each other), `encoding` (answering a read as
the device does), `server` (`ModbusSimServer`, fault injection with
`faults.Fault`), `fleet` and `cli` (`gtx-sim serve`).
"""
