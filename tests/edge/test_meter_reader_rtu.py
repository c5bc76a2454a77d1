"""The gateway's Modbus reader over RTU: a serial meter config, a simulated meter on
a pseudo-terminal, exact energy registers and each fault's outcome."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from device_sim.faults import Fault
from device_sim.meter import SimulatedMeter
from device_sim.rtu import ModbusSimRtuServer, PtyNullModem
from edge.config import MeterConfig, parse_config
from edge.meter_reader import MeterReadError, ModbusMeterReader
from wire.health import Outcome

pytest.importorskip("serial", reason="pyserial is not installed: pymodbus needs it for RTU")

IMPORT_WH, EXPORT_WH = 12_345_500, 987_250


def _serial_meter(device: str, unit_id: int = 1) -> MeterConfig:
    """A serial meter as the gateway's config file describes one."""
    raw = {
        "key_file": "device.pem",
        "state_file": "state.sqlite",
        "meters": [
            {
                "meter_id": f"sdm630-rtu-{unit_id}",
                "transport": "serial",
                "device": device,
                "baudrate": 9600,
                "unit_id": unit_id,
                "register_map": "sdm630",
                "rated_power_w": 63_000,
            }
        ],
    }
    return parse_config(raw).meters[0]


@asynccontextmanager
async def _rtu_sim() -> AsyncIterator[tuple[ModbusSimRtuServer, str]]:
    meter = SimulatedMeter.fixed(import_wh=IMPORT_WH, export_wh=EXPORT_WH)
    async with (
        PtyNullModem() as cable,
        ModbusSimRtuServer({1: meter}, map_name="sdm630", device=cable.server_end) as sim,
    ):
        yield sim, cable.gateway_end


async def test_reads_exact_energy_over_rtu() -> None:
    async with _rtu_sim() as (_, device), ModbusMeterReader(timeout_s=1) as reader:
        config = _serial_meter(device)
        assert (config.transport, config.device) == ("serial", device)
        for _ in range(2):  # and again on the same serial connection
            sample = await reader.read(config)
            assert (sample.values.import_wh, sample.values.export_wh) == (IMPORT_WH, EXPORT_WH)


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.EXCEPTION, Outcome.EXCEPTION),
        (Fault.TIMEOUT, Outcome.TIMEOUT),
        (Fault.CORRUPT_FRAME, Outcome.CORRUPT_FRAME),
    ],
)
async def test_each_fault_has_its_outcome_and_the_next_read_recovers(
    fault: Fault, outcome: Outcome
) -> None:
    async with _rtu_sim() as (sim, device), ModbusMeterReader(timeout_s=0.3) as reader:
        config = _serial_meter(device)
        assert (await reader.read(config)).values.import_wh == IMPORT_WH
        sim.inject(1, fault)
        with pytest.raises(MeterReadError) as info:
            await reader.read(config)
        assert info.value.outcome is outcome
        sim.clear(1)
        # After a transport failure the reader reopens the serial port.
        assert (await reader.read(config)).values.export_wh == EXPORT_WH


async def test_unserved_unit_is_silent_and_missing_device_unreachable() -> None:
    async with _rtu_sim() as (_, device), ModbusMeterReader(timeout_s=0.3) as reader:
        with pytest.raises(MeterReadError) as info:
            await reader.read(_serial_meter(device, unit_id=9))
        assert info.value.outcome is Outcome.TIMEOUT  # nobody on the bus answers unit 9
        with pytest.raises(MeterReadError) as info:
            await reader.read(_serial_meter("/dev/gtx-no-such-tty"))
        assert info.value.outcome is Outcome.UNREACHABLE
