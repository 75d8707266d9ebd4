"""Compare two claims folders (e.g. two `make reproduce PROFILE=smoke` runs): exit 0 when every row agrees.

Rows marked ``timing`` (wall-clock claims) are reported but not counted as differences: they may differ between
identical runs by design (README, "Reliability")::

    python scripts/compare_ledgers.py runs/smoke/claims /tmp/first-run-claims
"""

import argparse
import sys

from detdesign.claims import load_all

KEY = ["notebook", "claim_id"]
VALUES = ["we_measured", "holds", "interval", "preconditions", "note"]


def _is_timing(value) -> bool:
    return str(value).strip().lower() in ("true", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    a, b = (load_all(p).set_index(KEY) for p in (args.a, args.b))
    if a.empty or b.empty:
        print(f"no ledger rows in {args.a if a.empty else args.b}", file=sys.stderr)
        return 2
    missing = sorted(set(a.index) ^ set(b.index))
    differ, timing = [], []
    for idx in sorted(set(a.index) & set(b.index)):
        changed = [c for c in VALUES if str(a.loc[idx, c]) != str(b.loc[idx, c])]
        if changed:
            (timing if _is_timing(a.loc[idx, "timing"]) else differ).append((idx, changed))
    for idx in missing:
        print(f"only in one run: {idx}")
    for idx, cols in timing:
        print(f"timing row differs (allowed): {idx}: {', '.join(cols)}")
    for idx, cols in differ:
        print(f"DIFFERS: {idx}: " + "; ".join(f"{c}: {a.loc[idx, c]!r} vs {b.loc[idx, c]!r}" for c in cols))
    print(f"{len(a)} rows compared: {len(differ)} differ, {len(timing)} timing rows differ, {len(missing)} unmatched")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
