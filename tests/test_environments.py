"""The recorded environments agree with pyproject.toml: the lock file pins a
version of every requirement of the pipeline's extras that satisfies it, and
the conda environments install those versions (no conda here to solve them:
this keeps them from drifting apart)."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = "requirements/pipeline.lock.txt"
LOCKED_EXTRAS = ("pipeline", "test")  # what the lock resolves, with the dependencies
LOCK_PYTHON = "3.11"


def pins(requirements):
    """{canonical name: Requirement} of pip requirement strings."""
    result = {}
    for text in requirements:
        if text.startswith("-"):  # -e ., -r FILE
            continue
        requirement = Requirement(text)
        result[canonicalize_name(requirement.name)] = requirement
    return result


def conda_env(path):
    """(python version, the pip section's lines)."""
    env = yaml.safe_load((ROOT / path).read_text())
    deps = env["dependencies"]
    python = next(d.split("=", 1)[1] for d in deps if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return python, pip


def project():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: pins(reqs) for name, reqs in meta["optional-dependencies"].items()}
    return meta, pins(meta["dependencies"]), extras


def lock():
    """(header, {canonical name: Version}) of the lock file; every entry exact."""
    text = (ROOT / LOCK).read_text()
    versions = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # one exact version, no marker, no range
        assert spec.operator == "==" and "*" not in spec.version and requirement.marker is None, line
        versions[canonicalize_name(requirement.name)] = Version(spec.version)
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    return header, versions


def test_the_lock_pins_every_requirement_of_the_locked_extras_within_its_range():
    meta, base, extras = project()
    _, locked = lock()
    wanted = dict(base)
    for extra in LOCKED_EXTRAS:
        wanted.update(extras[extra])
    problems = []
    for name, requirement in sorted(wanted.items()):
        if requirement.marker and not requirement.marker.evaluate(
            {"python_version": LOCK_PYTHON, "sys_platform": "linux", "platform_machine": "x86_64"}
        ):
            continue
        if name not in locked:
            problems.append(f"{requirement}: not in {LOCK}")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement}: {LOCK} pins {locked[name]}")
    assert not problems, "remake the lock (the command is in its header):\n" + "\n".join(problems)


def test_the_lock_says_how_it_was_made_and_for_which_python():
    meta, _, _ = project()
    header, locked = lock()
    command = next(line for line in header.splitlines() if "pip compile" in line)
    for extra in LOCKED_EXTRAS:
        assert re.search(rf"--extra[ =]{extra}\b", command), command
    assert f"--python-version {LOCK_PYTHON}" in command
    assert SpecifierSet(meta["requires-python"]).contains(LOCK_PYTHON)
    # torch comes from CI's own line (a CPU wheel): a locked one would pull a CUDA build.
    assert "torch" not in locked
    assert canonicalize_name(meta["name"]) not in locked


def test_the_cli_extra_is_part_of_the_pipeline():
    _, _, extras = project()
    assert extras["cli"].items() <= extras["pipeline"].items()


def test_the_conda_environments_install_the_locked_versions():
    meta, base, extras = project()
    _, locked = lock()
    python, pip = conda_env("environment.yml")
    assert pip == [f"-r {LOCK}", "-e ."]
    assert python == LOCK_PYTHON
    python_rules, rules = conda_env("workflow/envs/pipeline.yaml")
    rules = pins(rules)
    # The rules' environment: the pipeline's packages but Snakemake itself.
    assert rules.keys() == {name for name in {**base, **extras["pipeline"]}
                            if not name.startswith("snakemake") and name != "numpy"}
    for name, requirement in rules.items():
        assert str(requirement.specifier) == f"=={locked[name]}", requirement
        original = {**base, **extras["pipeline"]}[name]
        assert requirement.extras == original.extras, requirement
    assert python_rules == LOCK_PYTHON


def test_the_package_version_is_the_projects():
    import linked_neurons

    meta, _, _ = project()
    assert linked_neurons.__version__ == meta["version"]
