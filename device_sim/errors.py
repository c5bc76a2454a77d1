"""Errors of the meter simulator.

SimulatorError   the simulator cannot serve: its port or device is busy or
                 not available (the operator's choice of --host / --port)
"""

__all__ = ["SimulatorError"]


class SimulatorError(Exception):
    """The simulator cannot start serving; the message says where and why."""
