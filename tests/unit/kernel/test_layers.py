"""The kernel proper imports no service: only chargepark.platform (the CLI, the runtime, the
platform's settings) names csms, parking, billing, accounts, ops or the simulators."""

from __future__ import annotations

import ast
from pathlib import Path

KERNEL = Path(__file__).resolve().parents[3] / "chargepark"
SERVICE_AWARE = KERNEL / "platform"
SERVICES = frozenset({"csms", "parking", "billing", "accounts", "ops", "simulators"})


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in `tree`, also those inside functions."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_kernel_module_outside_the_platform_package_imports_a_service():
    breaches = []
    modules = sorted(KERNEL.rglob("*.py"))
    assert modules and SERVICE_AWARE.is_dir()
    for path in modules:
        if SERVICE_AWARE in path.parents:
            continue
        for line, module in imported(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] in SERVICES:
                breaches.append(f"{path.relative_to(KERNEL.parent)}:{line} imports {module}")
    assert breaches == []


def test_the_scan_sees_every_way_of_importing():
    source = (
        "import billing.app\n"
        "from csms.ocpp import server\n"
        "def late():\n"
        "    from ops import settings\n"
        "    importlib.import_module('parking.app')\n"
        "from chargepark.errors import Invalid\n"
        "from . import sibling\n"
    )
    modules = {module for _, module in imported(ast.parse(source))}
    assert modules == {"billing.app", "csms.ocpp", "ops", "parking.app", "chargepark.errors"}
