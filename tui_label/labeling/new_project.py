"""``tui-label import DIR SOURCE`` into a folder without a database: a new project.

Checked first, written after. ``plan`` scans the folder and plans the import against the
images as the new database will hold them (no labels, no classes), with ``--create-classes``
implied: an ImageFolder's class folders and a CSV's label values become the classes. Nothing
is created by a dry run, by a source that cannot be imported (rows that cannot be parsed, a
path outside the folder, no row naming an image of the folder) or by a folder without images.
``apply`` then creates the database as ``tui-label label`` does (``startup.NewFiles``: the
file and folders this call made are removed again if anything fails or is interrupted),
stores the folder and its images (``startup.store_dataset``) and imports through the one
import engine (``dataio.importing.Importer``: the classes get their keys from its
class-creation path).

No textual, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tui_label.core.types import ClassRow
from tui_label.dataio.importing import BATCH_SIZE, Importer, Source, Summary
from tui_label.errors import UsageError
from tui_label.labeling.startup import NewFiles, scan_images, store_dataset
from tui_label.media.scan import ScannedFile
from tui_label.store import Store


class Unstored:
    """The database not made yet, as an import plan reads a store: the folder's images, no
    labels and no classes (image ids are placeholders: the plan only counts)."""

    multi_label = False

    def __init__(self, files: list[ScannedFile], annotator: str | None) -> None:
        self.files = files
        self.annotator = annotator

    def label_states(self) -> list[tuple[int, str, str | None, int | None, str | None]]:
        return [(-1 - i, f.path, None, None, None) for i, f in enumerate(self.files)]

    def classes(self) -> list[ClassRow]:
        return []


@dataclass
class NewProject:
    """An import that creates the database ``db`` for the dataset folder ``root``: ``plan``
    and ``apply`` as ``Importer``'s (``tui-label import`` runs either the same way)."""

    root: Path
    db: Path
    source: Source
    annotator: str | None = None
    batch_size: int = BATCH_SIZE
    multi_label: bool = False
    files: list[ScannedFile] = field(default_factory=list)  # the folder's (after ``plan``)
    planned: Summary | None = None
    progress: Summary | None = None  # never set: an interrupt leaves nothing to complete

    def plan(self) -> Summary:
        """Scan the folder and plan the import; writes nothing, creates nothing.

        Raises:
            UsageError: no images in the folder, a malformed source, a path outside the
                folder, or no row that names one of its images.
        """
        self.files = scan_images(self.root)
        planned = self._importer(Unstored(self.files, self.annotator)).plan()
        if planned.new == 0:
            why = [f"{planned.rows:,} rows"]
            if planned.not_found:
                why.append(f"{planned.not_found:,} not in the folder, e.g. "
                           + ", ".join(planned.not_found_examples[:3]))
            if planned.bad_rows:
                why.append(f"{planned.bad_rows:,} cannot be parsed, first: "
                           f"{planned.bad_examples[0]}")
            raise UsageError(f"no label in {self.source.path} names an image of {self.root} "
                             f"({'; '.join(why)}): nothing created; paths are relative to "
                             "the folder")
        self.planned = planned
        return planned

    def apply(self) -> Summary:
        """Create the database, store the folder's images and import; on any failure (or an
        interrupt) the new database is removed again.

        Raises:
            UsageError: the source changed since ``plan``, or a write failed.
        """
        if self.planned is None:
            raise RuntimeError("plan() checks the source before apply() writes it")
        new = NewFiles(self.db)
        if self.db.exists():
            raise UsageError(f"{self.db} was created by someone else meanwhile: run the "
                             "import again")
        new.create()
        store: Store | None = None
        try:
            store = Store(self.db, annotator=self.annotator)
            store_dataset(store, self.root, self.files)
            importer = self._importer(store)
            if importer.plan().bad_rows > self.planned.bad_rows:
                raise UsageError(f"{self.source.path} changed since it was checked")
            return importer.apply()
        except BaseException as exc:
            if store is not None:
                store.close()
                store = None
            new.remove()
            if isinstance(exc, UsageError):  # not "the batches before it are stored"
                cause = exc.__cause__ or exc
                why = str(cause) if isinstance(cause, UsageError) else \
                    f"{type(cause).__name__}: {cause}"
                raise UsageError(f"import into a new database stopped ({why}): nothing "
                                 "created") from exc
            raise
        finally:
            if store is not None:
                store.close()

    def _importer(self, store) -> Importer:
        return Importer(store, self.source, create_classes=True, annotator=self.annotator,
                        batch_size=self.batch_size, multi_label=self.multi_label)
