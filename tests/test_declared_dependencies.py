"""Every third-party module the package, the tests, the benchmarks and the scripts import is declared in what the
README installs (``pip install -e ".[test]"``), and the README's commands are the ones CI runs.

A module that is installed here only as another package's dependency (psutil came in with the docs extra, so the
README's path failed while CI passed) is found by mapping each imported top-level name to the distributions that
provide it (``importlib.metadata.packages_distributions``) and looking each up in ``pyproject.toml``'s
``dependencies`` and the ``test`` extra, with the extras it names (``exactformer[docs,...]``) followed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("exactformer", "tests", "benchmarks", "scripts")
#: The extra the README installs (a test below reads it from the README's install command).
EXTRA = "test"


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``"mkdocstrings[python]>=0.26"`` -> mkdocstrings)."""
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)).lower()


def declared(extra: str = EXTRA) -> set[str]:
    """The distributions ``pip install ".[extra]"`` asks for by name: the dependencies, the extra and every extra it
    names through ``exactformer[...]``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    names, todo, seen = {_name(r) for r in project["dependencies"]}, [extra], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in extras[current]:
            inner = re.fullmatch(r"\s*exactformer\[([^\]]+)\].*", requirement)
            if inner:
                todo += [e.strip() for e in inner.group(1).split(",")]
            else:
                names.add(_name(requirement))
    return names


def _local_names() -> set[str]:
    """Top-level names that are the project's own: the package, the test package, and the modules and folders
    directly in the benchmarks and scripts folders (their scripts put their own folder on ``sys.path`` and import
    each other by file name)."""
    names = {"exactformer", "tests"}
    for folder in ("benchmarks", "scripts"):
        for path in (ROOT / folder).iterdir():
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                names.add(path.stem)
    return names


def imported_top_level_names() -> dict[str, set[str]]:
    """``{top-level module name: files importing it}`` over every .py file under the four folders (absolute
    imports only: a relative import is the project's own)."""
    found: dict[str, set[str]] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def third_party_imports() -> dict[str, set[str]]:
    """The imported top-level names that are neither the standard library nor the project's own."""
    local = _local_names()
    return {
        name: files
        for name, files in imported_top_level_names().items()
        if name not in sys.stdlib_module_names and name not in local and name != "__future__"
    }


def test_the_import_scan_sees_the_imports_it_must_declare():
    """The scan is not vacuous: it finds the package's own third-party imports (torch, numpy, sympy) and the
    benchmark's psutil, and it leaves out the standard library and the scripts' sibling modules."""
    found = third_party_imports()
    assert {"torch", "numpy", "sympy", "psutil", "pytest", "hypothesis"} <= set(found)
    assert not {"os", "json", "parity_first_common", "exactformer", "tests"} & set(found)
    assert any(f.startswith("benchmarks/") for f in found["psutil"])


def test_every_third_party_import_is_a_declared_dependency_of_the_readme_install():
    provided = importlib.metadata.packages_distributions()
    wanted = declared()
    missing = []
    for name, files in sorted(third_party_imports().items()):
        distributions = {_name(d) for d in provided.get(name, [])}
        if not distributions and _name(name) in wanted:
            continue  # declared for another Python only (tomli before 3.11), so not installed on this one
        if not distributions:
            missing.append(f"{name} (imported by {sorted(files)[0]}) is not installed: no distribution provides it")
        elif not distributions & wanted:
            missing.append(f"{name} (imported by {sorted(files)[0]}) comes from {sorted(distributions)}, which "
                           f"pyproject.toml does not declare in dependencies or the {EXTRA!r} extra")
    assert not missing, "\n".join(missing)


def _readme_block(marker: str) -> str:
    """The command between ``<!-- marker:begin -->`` and ``<!-- marker:end -->`` in README.md (in a bash fence)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {marker}:begin -->\s*```bash\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert block, f"README.md has no {marker} block"
    return block.group(1).strip()


def test_the_readme_installs_the_extra_these_tests_check():
    install = _readme_block("install")
    assert f'pip install -e ".[{EXTRA}]"' in install


def test_ci_runs_the_readme_commands_it_extracts_by_the_same_markers():
    """.ci/run takes the install and test commands from README.md (so a README edit changes CI) and runs them: its
    own extraction function, run here, gives exactly the README's blocks."""
    ci = (ROOT / ".ci" / "run").read_text()
    function = re.search(r"^readme_block\(\) \{.*?^\}", ci, re.S | re.M)
    assert function, ".ci/run has no readme_block function"
    for marker in ("install", "test"):
        done = subprocess.run(["bash", "-c", f"{function.group(0)}\nreadme_block {marker}"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        assert done.stdout.strip() == _readme_block(marker)
    assert 'bash -euo pipefail -c "$install"' in ci and 'bash -euo pipefail -c "$test_command"' in ci
    assert _readme_block("test").startswith("python -m pytest")


def test_a_requirement_name_is_normalised_as_pip_does():
    assert _name("mkdocstrings[python]>=0.26") == "mkdocstrings"
    assert _name("transformer_lens==3.9.0") == "transformer-lens"
    assert _name("PyYAML>=6") == "pyyaml"
