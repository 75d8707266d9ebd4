"""Datasets behind one configurable data root (see :mod:`detdesign.data.root`)."""

from detdesign.data.bccd import BCCD, coco_api, download_bccd, load_bccd, to_coco
from detdesign.data.cifar import Cifar, load_cifar10
from detdesign.data.coco_format import CocoSource, read_coco
from detdesign.data.nb201 import load_naslib_zc, load_nb201, load_nb201_12, load_nb201_200
from detdesign.data.nb201_download import download_nb201
from detdesign.data.root import DataNotFoundError, data_root, default_cache_dir, download_wanted, find, shown_root

__all__ = ["BCCD", "Cifar", "CocoSource", "DataNotFoundError", "coco_api", "data_root", "default_cache_dir",
           "download_bccd", "download_nb201", "download_wanted", "find", "load_bccd", "load_cifar10",
           "load_naslib_zc", "load_nb201", "load_nb201_12", "load_nb201_200", "read_coco", "shown_root",
           "to_coco"]
