"""Simulated AMI meters served over Modbus, with realistic PV and load profiles.

`meter` (counters integrated from `profiles`), `clock` (accelerated simulated
time), `encoding` (registers by the gateway's own `edge/maps`), `server`
(`ModbusSimServer`, fault injection with `faults.Fault`), `fleet` and `cli`
(`gtx-sim serve`).
"""
