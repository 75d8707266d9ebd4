"""The ``detdesign`` console command: the common one-liners (``detdesign --help``).

- ``detdesign proxies`` / ``detdesign backbones``: what the registries hold;
- ``detdesign score STRUCTURE --proxy zen``: a data-free proxy of a ZenNAS structure string (or a registered
  backbone name) at random initialisation, with its spread over ``--repeats`` draws;
- ``detdesign claims``: which claims of each paper hold, from the published ledger (``data/claims``);
- ``detdesign run --profile quick --only 05``: run notebooks (the checkout's ``scripts/run_notebooks.py``, the
  body of ``make reproduce``).

This is the package's one command-line front end: it parses arguments and calls library functions that take
plain values and dataclasses (the rest of the library never reads ``sys.argv``). ``claims`` and ``run`` work in
a checkout (the editable install the Makefile makes); the others work anywhere the package is installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def _checkout(what: str) -> Path:
    from detdesign.outputs import package_checkout

    root = package_checkout()
    if root is None or not (root / "scripts" / "run_notebooks.py").is_file():
        raise SystemExit(f"detdesign {what} needs the repository checkout (scripts/, data/); clone it and run "
                         f"`make install` there")
    return root


def _proxies(args) -> int:
    from detdesign.proxies import list_proxies, spec

    print(f"{'proxy':<12} {'data':<10} {'gradients':<10} {'cost':<8} networks")
    for name in list_proxies():
        s = spec(name)
        print(f"{name:<12} {'free' if s.data_free else 'needs data':<10} {s.gradients!s:<10} {s.cost:<8} "
              f"{s.networks}")
    return 0


def _backbones(args) -> int:
    from detdesign.detection import list_backbones

    print("\n".join(list_backbones()))
    return 0


def _score(args) -> int:
    from detdesign.arch import ZenNet
    from detdesign.detection.backbone import backbone_structure
    from detdesign.proxies import compute, spec

    s = spec(args.proxy)
    if not s.data_free:
        raise ValueError(f"proxy {args.proxy!r} needs a batch of real data; the command line scores data-free "
                         f"proxies only (call detdesign.proxies.compute(..., data=(x, y)) from Python)")
    net = ZenNet(backbone_structure(args.structure), num_classes=args.classes)
    r = compute(args.proxy, net, resolution=args.resolution, batch_size=args.batch_size, seed=args.seed,
                repeats=args.repeats)
    spread = f" (SD {r.std:.4g} over {r.n} draws, 95% [{r.ci95[0]:.6g}, {r.ci95[1]:.6g}])" if r.n > 1 else ""
    print(f"{r.name} = {r.value:.6g}{spread}; {r.seconds:.2f} s")
    return 0


def _claims(args) -> int:
    from detdesign.claims import load_all, summary

    folder = Path(args.folder) if args.folder else _checkout("claims") / "data" / "claims"
    print(summary.to_markdown(load_all(folder)))
    return 0


def _run(args) -> int:
    root = _checkout("run")
    cmd = [sys.executable, str(root / "scripts" / "run_notebooks.py"), "--profile", args.profile]
    if args.only:
        cmd += ["--only", args.only]
    return subprocess.call(cmd)


def parser() -> argparse.ArgumentParser:
    """The command's parser (one sub-command per one-liner)."""
    from detdesign.profiles import profile_names

    ap = argparse.ArgumentParser(prog="detdesign", description="detdesign one-liners: what the registries hold, "
                                 "a proxy score, the published claims, notebook runs")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("proxies", help="list the registered proxies and their facts").set_defaults(fn=_proxies)
    sub.add_parser("backbones", help="list the registered backbones").set_defaults(fn=_backbones)
    sc = sub.add_parser("score", help="score a ZenNAS structure string with a data-free proxy")
    sc.add_argument("structure", help="a ZenNAS / TinyNAS structure string, or a registered backbone name")
    sc.add_argument("--proxy", default="zen", help="a data-free proxy (see `detdesign proxies`; default zen)")
    sc.add_argument("--resolution", type=int, default=32, help="input size of the Gaussian batch (default 32)")
    sc.add_argument("--batch-size", type=int, default=16, help="batch of the Gaussian input (default 16)")
    sc.add_argument("--repeats", type=int, default=1, help="independent draws averaged (default 1)")
    sc.add_argument("--classes", type=int, default=10, help="classifier width of the scored network (default 10)")
    sc.add_argument("--seed", type=int, default=0)
    sc.set_defaults(fn=_score)
    cl = sub.add_parser("claims", help="which claims of each paper hold (the published ledger)")
    cl.add_argument("--folder", default="", help="a folder of ledger CSVs (default: the checkout's data/claims)")
    cl.set_defaults(fn=_claims)
    rn = sub.add_parser("run", help="run the notebooks with papermill (make reproduce)")
    rn.add_argument("--profile", default="quick", choices=profile_names())
    rn.add_argument("--only", default="", help="only notebooks whose name starts with this prefix, e.g. 05")
    rn.set_defaults(fn=_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``detdesign`` console script; a bad value prints one line and exits with status 2."""
    ap = parser()
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, TypeError) as err:
        ap.exit(2, f"detdesign {args.command}: error: {err}\n")


if __name__ == "__main__":
    sys.exit(main())
