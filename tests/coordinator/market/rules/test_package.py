import importlib
import pkgutil

import coordinator.market.rules as market


def test_all_is_sorted_and_resolves() -> None:
    assert market.__all__ == sorted(market.__all__)
    for name in market.__all__:
        assert getattr(market, name) is not None


def test_every_module_declares_all_and_the_package_exports_the_public_api() -> None:
    exported = set(market.__all__)
    for info in pkgutil.iter_modules(market.__path__):
        module = importlib.import_module(f"coordinator.market.rules.{info.name}")
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), (info.name, name)
            if not name.isupper() and info.name != "canonical":
                assert name in exported, (info.name, name)
