"""The score of a mutation run (`make mutation`), per module and in all, from `mutmut results`.

A mutant is *killed* when a test fails on it (or its tests crash: mutmut's "segfault");
*timeout* when its tests ran past mutmut's limit (5 times their normal time plus a constant: an
endless loop; counted as caught, as mutmut does, and shown apart); *survived* when every test
covering it passes; *no tests* when no selected test runs its function. The score is killed
and timed-out mutants over all checked ones, survivors and mutants without tests included: a
function no test reaches does not count in its favour.

    make mutation                      # runs mutmut, then this
    python benchmarks/mutation_score.py --survivors   # also list every surviving mutant
    python benchmarks/mutation_score.py --unjudged    # survivors docs/mutation_survivors.md lacks, and back
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# "    vrt.metrics.tie_aware.x_boundary_terms__mutmut_3: survived"
_LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.(?:x_|xǁ)(?P<function>\S*?)__mutmut_\d+: (?P<status>.+)$")
KILLED = {"killed", "timeout", "segfault"}
SURVIVORS_DOC = REPO_ROOT / "docs" / "mutation_survivors.md"
# A judged survivor's row: "| `vrt.index.exact.x_exact_topk__mutmut_7` | E | why |"
_JUDGED = re.compile(r"^\| `([^`]+__mutmut_\d+)` \|", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants by function")
    parser.add_argument(
        "--unjudged",
        action="store_true",
        help=f"list survivors that {SURVIVORS_DOC.relative_to(REPO_ROOT)} does not judge, and its rows that no longer survive",
    )
    args = parser.parse_args()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    done = subprocess.run(
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors: Counter = Counter()
    surviving_names: set[str] = set()
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        status = match["status"].strip()
        by_module[match["module"]][status] += 1
        if status in ("survived", "no tests"):
            survivors[(match["module"], match["function"].replace("ǁ", "."), status)] += 1
            surviving_names.add(line.split(":")[0].strip())
    print("| module | mutants | killed | timeout | survived | no tests | not checked | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    total: Counter = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        print(_row(module, counts))
    print(_row("**all**", total))
    if args.survivors:
        print()
        for (module, function, status), count in sorted(survivors.items()):
            print(f"{module}.{function}: {count} {status}")
    if args.unjudged:
        judged = set(_JUDGED.findall(SURVIVORS_DOC.read_text(encoding="utf-8")))
        print()
        for name in sorted(surviving_names - judged):
            print(f"not judged: {name}")
        for name in sorted(judged - surviving_names):
            print(f"judged, no longer surviving: {name}")
        print(
            f"{len(surviving_names)} survivors, {len(judged)} judged, {len(surviving_names ^ judged)} apart"
        )


def _row(name: str, counts: Counter) -> str:
    killed = sum(counts[status] for status in KILLED)
    checked = killed + counts["survived"] + counts["no tests"]
    score = f"{killed / checked:.1%}" if checked else "-"
    return (
        f"| {name} | {sum(counts.values())} | {counts['killed'] + counts['segfault']} | {counts['timeout']} | "
        f"{counts['survived']} | {counts['no tests']} | {counts['not checked']} | {score} |"
    )


if __name__ == "__main__":
    main()
