"""The Modbus reader against simulated meters: values, meter clock, each fault's outcome."""

import pytest

from device_sim.faults import Fault
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.config import MeterConfig
from edge.meter_reader import MeterReadError, ModbusMeterReader
from tests.utils.mosquitto import free_port
from wire.health import Outcome

IMPORT_WH, EXPORT_WH = 12_345_500, 987_250


def _meter(port: int, unit: int = 1, **kw: object) -> MeterConfig:
    return MeterConfig(f"m{unit}", "127.0.0.1", port, unit, "sdm630", 63_000, **kw)  # type: ignore[arg-type]


async def test_reads_values_and_the_meter_clock() -> None:
    meter = SimulatedMeter.fixed(import_wh=IMPORT_WH, export_wh=EXPORT_WH)
    async with ModbusSimServer({1: meter}) as sim, ModbusMeterReader(timeout_s=1) as reader:
        sample = await reader.read(_meter(sim.port))
        assert (sample.values.import_wh, sample.values.export_wh) == (IMPORT_WH, EXPORT_WH)
        assert sample.meter_ts is None
        sim.inject(1, Fault.CLOCK_DRIFT, drift_s=-3600)
        sample = await reader.read(_meter(sim.port, clock="meter"))
        assert sample.meter_ts is not None
        assert abs(sample.meter_ts - (sim.clock.now() - 3600)) <= 1


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.TIMEOUT, Outcome.TIMEOUT),
        (Fault.EXCEPTION, Outcome.EXCEPTION),
        (Fault.CORRUPT_FRAME, Outcome.CORRUPT_FRAME),
    ],
)
async def test_each_fault_has_its_outcome_and_the_next_read_recovers(
    fault: Fault, outcome: Outcome
) -> None:
    meter = SimulatedMeter.fixed(import_wh=IMPORT_WH, export_wh=EXPORT_WH)
    async with ModbusSimServer({1: meter}) as sim, ModbusMeterReader(timeout_s=0.3) as reader:
        assert (await reader.read(_meter(sim.port))).values.import_wh == IMPORT_WH
        sim.inject(1, fault)
        with pytest.raises(MeterReadError) as info:
            await reader.read(_meter(sim.port))
        assert info.value.outcome is outcome
        sim.clear(1)
        # After a corrupted frame pymodbus has dropped the connection: reconnect.
        assert (await reader.read(_meter(sim.port))).values.import_wh == IMPORT_WH


async def test_unserved_unit_is_an_exception_and_closed_port_unreachable() -> None:
    meter = SimulatedMeter.fixed(import_wh=1000, export_wh=0)
    async with ModbusSimServer({1: meter}) as sim, ModbusMeterReader(timeout_s=0.3) as reader:
        with pytest.raises(MeterReadError) as info:
            await reader.read(_meter(sim.port, unit=9))
        assert info.value.outcome is Outcome.EXCEPTION
        with pytest.raises(MeterReadError) as info:
            await reader.read(_meter(free_port()))
        assert info.value.outcome is Outcome.UNREACHABLE
