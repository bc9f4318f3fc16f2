"""`snakemake --lint`, failing on every lint but the ones listed in ALLOWED.

Usage (from the repository root): python .ci/lint_workflow.py

Snakemake 9 prints its lints as text ("Lints for rule NAME (...):" then
"    * TITLE:"), and its exit status is 1 whenever there is one; the
command line does not reach its JSON form. This reads the text, and exits 1
if any lint is not allowed, or if Snakemake failed without linting.
"""

import os
import re
import subprocess
import sys

#: (what, lint title) -> why it stays. Each needs a decision by the rule's owner.
ALLOWED = {
    ("rule train", "Shell command directly uses variable config from outside of the rule"):
        "the backend and the jax cache; moving them to params, or editing the command "
        "at all, changes the recorded command of every training job, and Snakemake's "
        "code and params triggers then rerun all of them in existing builds",
    ("rule train", "Shell command directly uses variable workflow from outside of the rule"):
        "workflow.basedir (the checkout, for PYTHONPATH and train.py): an absolute path as "
        "a param would make every moved copy retrain; same rerun as above",
}
HEADER = re.compile(r"^Lints for (rule \S+|snakefile \S+)")
ITEM = re.compile(r"^    \* (.+?)(?: in line \d+\.)?:$")


def lints(text):
    """[(what, title)] of snakemake --lint's output."""
    found, what = [], None
    for line in text.splitlines():
        if m := HEADER.match(line):
            what = m[1]
            if what.startswith("snakefile "):  # by path relative to the checkout
                what = "snakefile " + os.path.relpath(what.split(" ", 1)[1])
        elif what and (m := ITEM.match(line)):
            found.append((what, m[1]))
    return found


def main():
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True,
                            text=True, env=env)
    output = result.stdout + result.stderr
    found = lints(output)
    if result.returncode != 0 and not found:
        print(output, file=sys.stderr)
        print("snakemake --lint failed without linting (above)", file=sys.stderr)
        return 1
    unexpected = [lint for lint in found if lint not in ALLOWED]
    for what, title in sorted(set(found) & ALLOWED.keys()):
        print(f"allowed: {what}: {title} ({ALLOWED[what, title]})")
    for what, title in sorted(ALLOWED.keys() - set(found)):
        print(f"no longer reported, remove it from ALLOWED: {what}: {title}")
    if unexpected:
        print(output, file=sys.stderr)
        print("snakemake --lint: fix these (or allow them in .ci/lint_workflow.py, saying why):",
              file=sys.stderr)
        for what, title in unexpected:
            print(f"  {what}: {title}", file=sys.stderr)
        return 1
    print(f"snakemake --lint: clean but for {len(found)} allowed lints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
