"""The columnar trial store: format, filesystem backends, writer and reader."""

from smdbg.store._segment import Record
from smdbg.store.format import FORMAT_VERSION, RAW
from smdbg.store.fs import StoreFS, open_fs
from smdbg.store.reader import TrialReader
from smdbg.store.writer import BackgroundWriter, TrialWriter

__all__ = [
    "FORMAT_VERSION",
    "RAW",
    "Record",
    "StoreFS",
    "open_fs",
    "TrialReader",
    "TrialWriter",
    "BackgroundWriter",
]
