"""Download every dataset the notebooks read into the data root (`make data`), each from a pinned source and
checked against a checksum before it is installed: BCCD (a commit of Shenggan/BCCD_Dataset, SHA-256 of its
files), the NAS-Bench-201 tables (files of fixed commits, SHA-256) and CIFAR-10 (the official release through
torchvision, MD5 as published). Files already present are left alone. The data root is $DETDESIGN_DATA, else
../shared/datasets beside the checkout, else ~/.cache/detdesign (see detdesign.data.root)."""

import sys

from detdesign.data import data_root, download_bccd, download_nb201, load_cifar10


def main() -> int:
    print(f"data root: {data_root()}")
    print(f"BCCD: {download_bccd()}")
    for name, path in download_nb201().items():
        print(f"NB201 {name}: {path}")
    for split in ("train", "test"):
        print(f"CIFAR-10 {split}: {load_cifar10(split, download=True).source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
