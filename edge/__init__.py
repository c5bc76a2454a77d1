"""The gateway agent: reads meters over Modbus, signs readings, publishes over MQTT.

`wire.reading`, `wire.topics`, `wire.base58` and `edge.registers` form the
MicroPython-portable core: no dataclasses, no typing imports, no floats in
signed data, no reliance on dict order. Everything else in this package is
CPython-only I/O around that core.
"""
