"""The package's layers, checked statically (ast over the source files, nothing imported):

(a) only the Airflow adapter (retrain/airflow/) imports `airflow` - plus three named exceptions;
(b) retrain/core/ is pure: no S3, Airflow, registry, pipeline or storage imports, no file or network I/O;
(c) the runtime package (include/retrain, what the image ships) never imports the dev tooling.

Each rule is a function over source text, so each is also shown to flag a bad sample.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "include" / "retrain"

# Outside retrain/airflow/, only these import airflow, each for a reason:
AIRFLOW_EXCEPTIONS = {
    "retrain/timetable.py": "DAGs serialize the class by its import path retrain.timetable.WeeklyTimetable",
    "retrain/storage/s3.py": "the Amazon provider's S3Hook is the S3 client (the only S3 code)",
    "retrain/cli.py": "imports airflow once to move its logging off stdout (--json output)",
}
CORE_FORBIDDEN_MODULES = ("airflow", "boto3", "botocore", "retrain.storage", "retrain.registry", "retrain.pipeline",
                          "retrain.airflow", "retrain.monitoring", "retrain_dev", "requests", "urllib", "http",
                          "socket", "subprocess", "smtplib", "joblib")
CORE_FORBIDDEN_CALLS = {"open"}  # builtins that do I/O
CORE_FORBIDDEN_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "read_parquet", "to_parquet",
                          "read_csv", "to_csv", "mkdir", "unlink"}


def imported_modules(source: str) -> set[str]:
    """Every module a source imports, at any depth (lazy imports inside functions count)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def imports_airflow(source: str) -> bool:
    return any(_is(m, "airflow") for m in imported_modules(source))


def _in_memory(node: ast.expr, buffers: set[str]) -> bool:
    """An io.BytesIO / StringIO buffer: serialising into one is not I/O."""
    if isinstance(node, ast.Call):
        fn = node.func
        return (fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")) in ("BytesIO", "StringIO")
    return isinstance(node, ast.Name) and node.id in buffers


def impurities(source: str) -> list[str]:
    """What makes a core module impure: forbidden imports, I/O calls (pandas readers and writers only
    on in-memory buffers)."""
    tree = ast.parse(source)
    found = sorted(m for m in imported_modules(source) if any(_is(m, f) for f in CORE_FORBIDDEN_MODULES))
    buffers = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and _in_memory(n.value, set())
               for t in n.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in CORE_FORBIDDEN_CALLS:
                found.append(f"{fn.id}()")
            elif (isinstance(fn, ast.Attribute) and fn.attr in CORE_FORBIDDEN_METHODS
                  and not (node.args and _in_memory(node.args[0], buffers))):
                found.append(f".{fn.attr}()")
    return found


def imports_dev_tooling(source: str) -> bool:
    return any(_is(m, "retrain_dev") for m in imported_modules(source))


def sources(root: Path) -> dict[str, str]:
    return {path.relative_to(root.parent).as_posix(): path.read_text() for path in sorted(root.rglob("*.py"))}


# -- the rules can fail -------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    "import airflow",
    "from airflow.sdk import DAG",
    "def f():\n    from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n",
])
def test_the_airflow_rule_flags_an_airflow_import(bad):
    assert imports_airflow(bad)
    assert not imports_airflow("import pandas\nfrom retrain.airflow import tasks  # the adapter, not airflow\n")


@pytest.mark.parametrize("bad", [
    "import boto3", "from botocore.config import Config", "from retrain.storage import S3Store",
    "from retrain import registry", "def f():\n    from retrain.pipeline.steps import Steps\n",
    "from airflow.sdk import DAG", "import requests", "def f(p):\n    return open(p).read()\n",
    "def f(path):\n    return path.read_text()\n", "def f(df, p):\n    df.to_parquet(p)\n",
])
def test_the_purity_rule_flags_io_and_outer_layers(bad):
    assert impurities(bad)
    assert impurities("import numpy as np\nfrom retrain.config import GateConfig\n\ndef f(x):\n    return np.mean(x)\n") == []
    in_memory = "import io\n\ndef f(df):\n    buf = io.BytesIO()\n    df.to_parquet(buf)\n    return pd.read_csv(io.BytesIO(b''))\n"
    assert impurities(in_memory) == []


@pytest.mark.parametrize("bad", ["import retrain_dev", "from retrain_dev.datagen import fraud",
                                 "def f():\n    from retrain_dev import devstack\n"])
def test_the_dev_tooling_rule_flags_an_import(bad):
    assert imports_dev_tooling(bad)
    assert not imports_dev_tooling("import retrain\nfrom retrain.importers import rossmann\n")


# -- the package keeps them -------------------------------------------------------------------------
def test_only_the_airflow_adapter_imports_airflow():
    files = sources(PKG)
    users = {name for name, text in files.items() if imports_airflow(text)}
    adapter = {name for name in files if name.startswith("retrain/airflow/")}
    assert users - adapter == set(AIRFLOW_EXCEPTIONS)
    assert {"retrain/airflow/dag_factory.py", "retrain/airflow/tasks.py"} <= users  # the rule sees real imports
    assert "open" in dir(builtins)  # CORE_FORBIDDEN_CALLS names a real builtin


def test_dags_and_plugins_reach_the_package_only_through_the_adapter_and_the_timetable():
    allowed = ("retrain.airflow", "retrain.timetable", "retrain.config")
    for folder in ("dags", "plugins"):
        for name, text in sources(ROOT / folder).items():
            own = {m for m in imported_modules(text) if _is(m, "retrain")}
            assert all(any(_is(m, a) for a in allowed) for m in own), (name, own)


def test_core_is_pure():
    files = sources(PKG / "core")
    assert len(files) >= 12  # triggers, drift, metrics, gate, training, features, ...
    assert {name: impurities(text) for name, text in files.items() if impurities(text)} == {}


def test_the_runtime_package_never_imports_the_dev_tooling():
    files = sources(PKG)
    assert {name for name, text in files.items() if imports_dev_tooling(text)} == set()
    # the CLI's dev commands name the dev package only as a string, imported lazily when present
    named = {name for name, text in files.items() if "retrain_dev" in text}
    assert named == {"retrain/cli.py"}


def test_the_cli_says_when_the_dev_tooling_is_absent(monkeypatch, capsys):
    import sys

    from retrain import cli

    for name in [m for m in sys.modules if _is(m, "retrain_dev")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "retrain_dev", None)  # as in the image: the package cannot be imported
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo"])
    assert "dev tooling not installed" in str(exc.value.code)
    assert cli._dev_module("devstack") is None  # the registry commands then use the configured S3 only
