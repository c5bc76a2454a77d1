import importlib
import pkgutil

import coordinator.readings.oracle as oracle


def test_all_is_sorted_and_resolves() -> None:
    assert oracle.__all__ == sorted(oracle.__all__, key=lambda n: (not n.isupper(), n))
    for name in oracle.__all__:
        assert getattr(oracle, name) is not None


def test_every_module_declares_all_and_exports_exist() -> None:
    for info in pkgutil.iter_modules(oracle.__path__):
        module = importlib.import_module(f"coordinator.readings.oracle.{info.name}")
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), (info.name, name)
