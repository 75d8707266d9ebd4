"""CIFAR-10 as uint8 arrays, from whichever copy the data root holds.

Sources, in order: the official python release (``cifar10/cifar-10-batches-py/`` or
``cifar10/cifar-10-python.tar.gz``), the JPEG zip of this project's offline machines
(``cifar10/cifar10-jpg.zip``, members ``train/<class>/NNNN.jpg``; re-encoded JPEG, so pixels are not
bit-identical to the official release), and finally -- only with ``download=True`` -- the official release
through ``torchvision.datasets.CIFAR10`` into the cache folder. A whole split is decoded once and cached as
``.npz``; a subset (``n_per_class``) is drawn with a seeded generator from each class in the source's order.

Safety: the official release is a set of Python pickles, and unpickling runs code a pickle names. Each batch
file is therefore checked against the release's MD5 (the checksums torchvision publishes) before it is read,
and the unpickler admits only the numpy array reconstruction a CIFAR batch needs; a file under the data root
that fails either check is refused with its name, never unpickled.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from detdesign.atomic import atomic_path, read_npz
from detdesign.data.download import sha256_file
from detdesign.data.root import data_root, default_cache_dir, download_wanted, not_found

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
MEAN = (0.4914, 0.4822, 0.4465)  # official per-channel means (the JPEG copy measures 0.4913/0.4821/0.4465)
STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class Cifar:
    """``images``: uint8 [N, 32, 32, 3]; ``labels``: int64 [N] indexing :data:`CLASSES`; ``source``."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self):
        """Float tensors normalised with the CIFAR-10 mean/std: x [N, 3, 32, 32], y [N]."""
        import torch
        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        return x, torch.from_numpy(self.labels)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; valid splits are {SPLITS}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch (a dict of bytes, lists and one numpy array) and nothing else: any other global a
    pickle names (the way a malicious pickle runs code) is refused."""

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"), ("builtins", "object"),
        ("_codecs", "encode")})

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch may not reference {module}.{name}; this file is not "
                                         "the official release")
        return super().find_class(module, name)


def _official_md5(split: str) -> list[tuple[str, str]]:
    """(file, md5) of the official batches, as torchvision publishes them (the release's own checksums)."""
    from torchvision.datasets import CIFAR10

    return [tuple(x) for x in (CIFAR10.train_list if split == "train" else CIFAR10.test_list)]


def _from_batches(read, split: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode the official batches of ``split``; each file's MD5 is checked against the release's before it is
    unpickled, and unpickling admits only what a CIFAR batch contains (:class:`_ArrayUnpickler`)."""
    xs, ys = [], []
    for name, md5 in _official_md5(split):
        raw = read(name)
        if hashlib.md5(raw).hexdigest() != md5:
            raise ValueError(f"{where}/{name} is not the official CIFAR-10 file (MD5 {hashlib.md5(raw).hexdigest()} "
                             f"!= {md5}); it was not unpickled. Replace it with the official release.")
        d = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _official(base: Path, split: str):
    folder = base / "cifar-10-batches-py"
    if folder.is_dir():
        return _from_batches(lambda n: (folder / n).read_bytes(), split, str(folder)), "official-python"
    tar = base / "cifar-10-python.tar.gz"
    if tar.is_file():
        with tarfile.open(tar) as tf:
            return _from_batches(lambda n: tf.extractfile(f"cifar-10-batches-py/{n}").read(), split, str(tar)), \
                "official-python"
    return None


def _zip_members(zf: zipfile.ZipFile, split: str) -> list[tuple[str, int]]:
    members = []
    for name in zf.namelist():
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == split and parts[2].endswith(".jpg"):
            if parts[1] not in CLASSES:
                raise ValueError(f"{zf.filename}: unknown class folder {parts[1]!r} in member {name}")
            members.append((name, CLASSES.index(parts[1])))
    if not members:
        raise ValueError(f"{zf.filename} has no {split}/<class>/*.jpg members; is it the CIFAR-10 JPEG zip?")
    _check_counts([m[1] for m in members], split, str(zf.filename))
    return sorted(members, key=lambda m: (m[1], m[0]))


PER_CLASS = {"train": 5000, "test": 1000}  # CIFAR-10's images per class in each split


def _check_counts(labels, split: str, where: str) -> None:
    """Fail naming the shortfall when ``where`` lacks images of some class (a missing folder or member: CIFAR-10
    holds the same number per class); warn when every class is there but the split is smaller than CIFAR-10's
    (a deliberate subset, e.g. a test fixture)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(CLASSES))
    full = PER_CLASS[split]
    if counts.min() != counts.max():
        top = int(counts.max())
        short = {CLASSES[c]: int(n) for c, n in enumerate(counts) if n < top}
        raise ValueError(f"{where}: the CIFAR-10 {split} split holds the same number of images per class "
                         f"({full:,} in the release); found {short} against {top:,} for the others "
                         f"({int(counts.sum()):,} in all): the copy is incomplete or damaged, restore it (or delete it "
                         "and download with DETDESIGN_DOWNLOAD=1)")
    if counts.min() != full:
        import warnings

        warnings.warn(f"{where}: {int(counts.min()):,} images per class in the {split} split, not CIFAR-10's "
                      f"{full:,}: a subset copy", stacklevel=3)


def _decode(zf: zipfile.ZipFile, members) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(members), 32, 32, 3), dtype=np.uint8)
    for i, (name, _) in enumerate(members):
        images[i] = np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB"))
    return images, np.array([label for _, label in members], dtype=np.int64)


def _subset_index(labels: np.ndarray, n_per_class: int, seed: int) -> np.ndarray:
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(labels == c)
        if n_per_class > len(idx):
            raise ValueError(f"n_per_class={n_per_class} exceeds the {len(idx)} images of class {CLASSES[c]}")
        picks.append(np.sort(rng.choice(idx, size=n_per_class, replace=False)))
    return np.concatenate(picks)


def _download(split: str, cache: Path):
    from torchvision.datasets import CIFAR10
    ds = CIFAR10(str(cache / "cifar10"), train=(split == "train"), download=True)
    return (np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)), "official-download"


def load_cifar10(split: str = "train", *, root=None, n_per_class: int | None = None, seed: int = 0,
                 download: bool | None = None) -> Cifar:
    """Load a CIFAR-10 split (or a seeded ``n_per_class`` subset) as uint8 arrays; see the module docs."""
    _check_split(split)
    base = data_root(root) / "cifar10"
    cache = default_cache_dir()
    found = _official(base, split)
    if found is None and (base / "cifar10-jpg.zip").is_file():
        zpath = base / "cifar10-jpg.zip"
        # keyed by the zip's SHA-256 (not its size): a planted or stale decoded copy is never taken for this zip
        npz = cache / f"cifar10-jpg-{split}-{sha256_file(zpath)[:16]}.npz"
        cached = read_npz(npz)
        if cached is not None:
            found = (cached["images"], cached["labels"]), "jpeg-zip"
        else:
            with zipfile.ZipFile(zpath) as zf:
                members = _zip_members(zf, split)
                if n_per_class is not None:  # decode only what is asked for; same picks as from the cache
                    labels = np.array([m[1] for m in members])
                    idx = _subset_index(labels, n_per_class, seed)
                    x, y = _decode(zf, [members[i] for i in idx])
                    return Cifar(x, y, "jpeg-zip")
                x, y = _decode(zf, members)
            with atomic_path(npz, ".npz") as tmp:
                np.savez(tmp, images=x, labels=y)
            found = (x, y), "jpeg-zip"
    if found is None:
        if not download_wanted(download):
            raise not_found("cifar10/cifar-10-batches-py (or cifar10-jpg.zip)", data_root(root),
                            "or allow the official download with DETDESIGN_DOWNLOAD=1 or download=True")
        found = _download(split, cache)
    (x, y), source = found
    _check_counts(y, split, f"CIFAR-10 ({source}) under {base}")
    if n_per_class is not None:
        idx = _subset_index(y, n_per_class, seed)
        x, y = x[idx], y[idx]
    return Cifar(x, y, source)


def cifar_batch(n: int = 64, seed: int = 42):
    """One real CIFAR-10 training batch of ``n`` images (seeded), normalised: (x [n,3,32,32], y [n])."""
    import torch

    per_class = -(-n // 10) + 1
    cifar = load_cifar10("train", n_per_class=per_class, seed=seed)
    x, y = cifar.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
    return x[order], y[order]


def holdout_mask(y, per_class: int):
    """A boolean mask picking the last ``per_class`` images of every class of labels ``y`` (a validation split
    drawn from a training subset, disjoint from the images left for training)."""
    import torch

    mask = torch.zeros(len(y), dtype=torch.bool)
    for c in range(10):
        idx = (y == c).nonzero().flatten()
        mask[idx[len(idx) - per_class:]] = True
    return mask


def cifar_splits(train_per_class: int, val_per_class: int, test_per_class: int | None, seed: int) -> dict:
    """Normalised tensors ``{"train": (x, y), "val": (x, y), "test": (x, y)}``: a seeded training subset, validation
    images drawn from the training split apart from it, and the test set (all 10,000 images when
    ``test_per_class`` is None)."""
    x, y = load_cifar10("train", n_per_class=train_per_class + val_per_class, seed=seed).tensors()
    val = holdout_mask(y, val_per_class)
    xte, yte = load_cifar10("test", n_per_class=test_per_class, seed=seed).tensors()
    return {"train": (x[~val], y[~val]), "val": (x[val], y[val]), "test": (xte, yte)}
