"""One logging setup for every workflow script: the rule's `log:` file and stderr.

    import logs
    log = logs.setup(snakemake, "extract")

Everything from INFO on goes to the rule's log file (snakemake.log[0], as
Snakemake names it; kept with the job's other outputs); warnings and errors
go to stderr too, where Snakemake shows them beside the job, each line
naming the rule and its wildcards. Python warnings (pandas, matplotlib) are
logged the same way.
"""

import logging
import sys

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(sm, name=None, console=logging.WARNING):
    """Log to the rule's log file and to stderr; return the logger `name`
    (the root logger when None). `sm`: the script's `snakemake` object."""
    job = " ".join([sm.rule, *(f"{k}={v}" for k, v in sm.wildcards.items())])
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):  # a second setup replaces the first
        if getattr(handler, "_workflow_log", False):
            root.removeHandler(handler)
            handler.close()
    handlers = []
    if len(sm.log):
        to_file = logging.FileHandler(sm.log[0], encoding="utf-8")
        to_file.setFormatter(logging.Formatter(FILE_FORMAT))
        handlers.append(to_file)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(console)
    to_stderr.setFormatter(logging.Formatter(f"{job}: %(levelname)s: %(message)s"))
    handlers.append(to_stderr)
    for handler in handlers:
        handler._workflow_log = True
        root.addHandler(handler)
    logging.captureWarnings(True)
    return logging.getLogger(name)
