"""Whether a span of training had the machine to itself: measured, not assumed.

A timed run (the paper's Table 6 compares training times) is scheduled alone
(`--exclusive`: every core of a local Snakemake run, a node of its own on
SLURM), but a second `snakemake` on the same machine, another user or another
container may still share it. So the trainer measures: over the span it
trained, the CPU time of its own process (all its threads) against the busy
CPU time of the whole machine (`/proc/stat`, every CPU: user, nice, system,
irq, softirq and steal, which is what a hypervisor gave to others). What the
machine spent beyond this process is other work; the span counts as exclusive
when that averages at most OTHER_CORES_TOLERATED cores. `steal_cpu_seconds`
says how much of the other work was steal: a host shared with other virtual
machines, which no process list of this machine shows.

    span = Span()           # when training starts
    ...train...
    span.summary(requested) # {"device_exclusive": bool, "device_usage": {...}}

`device_exclusive` is true only when exclusivity was requested and the
measure confirms it; where the machine's CPU time cannot be read (no
/proc/stat: not Linux), it is false and `device_usage` says it was not
measured. On a GPU this measures the host: a second process on the GPU
without CPU load is not seen.

Standard library only.
"""

import os
import time

#: Other work tolerated during an exclusive span, in cores on average (system
#: daemons, Snakemake's own polling: a few hundredths of a core).
OTHER_CORES_TOLERATED = 0.1
PROC_STAT = "/proc/stat"


def machine_cpu(path=PROC_STAT):
    """(busy, steal): CPU seconds of every CPU of the machine since boot, busy
    (steal included) and of them steal, from one reading; or None."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    try:
        values = [int(v) for v in fields[1:9]] + [0] * 8
    except ValueError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, steal / tick


def process_cpu_seconds():
    """CPU seconds of this process (every thread) and of its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Span:
    """A span of training whose use of the machine is measured."""

    def __init__(self):
        self.start = (time.monotonic(), process_cpu_seconds(), machine_cpu())

    def usage(self):
        """What the machine did over the span so far."""
        wall0, own0, cpu0 = self.start
        cpu1 = machine_cpu()
        wall = time.monotonic() - wall0
        own = process_cpu_seconds() - own0
        if cpu0 is None or cpu1 is None:
            return {"measured": False, "span_seconds": round(wall, 3),
                    "process_cpu_seconds": round(own, 3)}
        machine, steal = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        other = max(0.0, machine - own)
        return {
            "measured": True,
            "span_seconds": round(wall, 3),
            "process_cpu_seconds": round(own, 3),
            "machine_cpu_seconds": round(machine, 3),
            "other_cpu_seconds": round(other, 3),
            "other_cores": round(other / wall, 3) if wall > 0 else 0.0,
            # Of the other work, what the hypervisor gave to other machines: a
            # shared host, not a process of this one (an idle-looking machine
            # whose timed runs are not exclusive).
            "steal_cpu_seconds": round(min(steal, other), 3),
        }

    def summary(self, requested):
        """{"device_exclusive", "device_usage"} for metrics.json: exclusive only
        if `requested` and the span measured so."""
        usage = self.usage()
        alone = usage["measured"] and usage["other_cores"] <= OTHER_CORES_TOLERATED
        usage["exclusive_requested"] = bool(requested)
        return {"device_exclusive": bool(requested) and alone, "device_usage": usage}
