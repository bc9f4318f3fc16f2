"""The conda environments pin what pyproject.toml pins (no conda here to
solve them: this keeps them from drifting apart)."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins(requirements):
    """{canonical name: Requirement} of pip requirement strings."""
    result = {}
    for text in requirements:
        if text.startswith("-e"):
            continue
        requirement = Requirement(text)
        result[canonicalize_name(requirement.name)] = requirement
    return result


def conda_env(path):
    """(python version, {name: Requirement} of its pip section)."""
    env = yaml.safe_load((ROOT / path).read_text())
    deps = env["dependencies"]
    python = next(d.split("=", 1)[1] for d in deps if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return python, pins(pip)


def project():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    return meta, pins(meta["dependencies"]), pins(extras["pipeline"]), pins(extras["test"])


def test_the_conda_environments_pin_what_pyproject_pins():
    meta, base, pipeline, test = project()
    everything = {**base, **pipeline, **test}
    python, env = conda_env("environment.yml")
    assert env == everything
    python_rules, rules = conda_env("workflow/envs/pipeline.yaml")
    # The rules' environment: the pipeline's packages but Snakemake itself.
    assert rules == {name: r for name, r in {**base, **pipeline}.items()
                     if not name.startswith("snakemake") and name != "numpy"}
    assert python == python_rules and SpecifierSet(meta["requires-python"]).contains(python)
