"""The Train panel's settings form: training data, network, optimisation -> a TrainConfig.

The form only collects choices; :meth:`TrainForm.config` builds the
:class:`core.learn.trainconfig.TrainConfig`, whose validation is the one place
that says what is wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6 import QtCore, QtWidgets

from core.errors import DislocError
from core.learn.runfolder import RunInfo
from core.learn.trainconfig import DEFAULT_ENCODER, DEFAULT_LOSS, ENCODERS, LOSSES, TrainConfig
from core.project.runs import DataFolder, project_data
from core.shipped import default_model_path, realistic_model_path

from .threads import default_threads

CHOOSE = "__choose__"
ENCODER_NOTES = {
    "tu-mobilenetv2_100": "small and fast; good on a laptop CPU",
    "resnet18": "small; fast on CPU and GPU",
    "tu-efficientnet_b0": "small, accurate; slower on CPU",
    "resnet50": "the paper's encoder; use a GPU",
}
LOSS_NOTES = {
    "greedy": "the paper's matching Dice loss (greedy order)",
    "hungarian": "optimal matching of predicted to true masks",
    "hungarian+empty": "optimal matching, and unmatched masks pushed to empty (fewer duplicates)",
}


class TrainForm(QtWidgets.QWidget):
    """Training data (train/test per folder), encoder, fine-tune start, epochs, batch size, loss."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._extra: list[DataFolder] = []
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        data = QtWidgets.QGroupBox("Training data")
        dl = QtWidgets.QVBoxLayout(data)
        self.data = QtWidgets.QTreeWidget()
        self.data.setHeaderLabels(["Folder", "Images", "Train", "Test"])
        self.data.setRootIsDecorated(False)
        self.data.setToolTip("Tick Train for the folders to learn from and Test for those to measure the "
                             "length metric on (the best checkpoint is chosen by it)")
        self.data.setMinimumHeight(90)
        self.data.setMaximumHeight(100)
        head = self.data.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            head.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.add_btn = QtWidgets.QPushButton("Add folder…")  # the panel connects it (it reports errors)
        self.add_btn.setToolTip("A dataset folder from elsewhere (made by 'disloc synth'), or a folder of labelme files")
        dl.addWidget(self.data)
        dl.addWidget(self.add_btn, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        lay.addWidget(data)

        net = QtWidgets.QGroupBox("Network")
        nf = QtWidgets.QFormLayout(net)
        self.encoder = QtWidgets.QComboBox()
        for e in ENCODERS:
            self.encoder.addItem(f"{e}", e)
            self.encoder.setItemData(self.encoder.count() - 1, ENCODER_NOTES.get(e, ""),
                                     QtCore.Qt.ItemDataRole.ToolTipRole)
        self.encoder.setCurrentIndex(ENCODERS.index(DEFAULT_ENCODER))
        self.init = QtWidgets.QComboBox()
        self.init.setToolTip("Start from a trained model (fine-tuning) or from random weights")
        self.init.activated.connect(self._on_init)
        self.n_masks = QtWidgets.QSpinBox()
        self.n_masks.setRange(1, 256)
        self.n_masks.setValue(20)
        self.n_masks.setToolTip("Masks N the network predicts: the most dislocations one frame can hold")
        nf.addRow("Encoder", self.encoder)
        nf.addRow("Fine-tune from", self.init)
        nf.addRow("Masks per frame", self.n_masks)
        lay.addWidget(net)

        opt = QtWidgets.QGroupBox("Optimisation")
        of = QtWidgets.QFormLayout(opt)
        self.epochs = QtWidgets.QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(20)
        self.batch = QtWidgets.QSpinBox()
        self.batch.setRange(1, 1024)
        self.batch.setValue(4)
        self.image_size = QtWidgets.QSpinBox()
        self.image_size.setRange(32, 4096)
        self.image_size.setSingleStep(32)
        self.image_size.setValue(256)
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("Side of the training crops (a multiple of 32 px)")
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 10_000_000)
        self.steps.setSpecialValueText("all images")
        self.steps.setToolTip("Optimiser steps per epoch (all images: one pass over the data; "
                              "more repeats a few annotated frames)")
        self.lr = QtWidgets.QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(1e-3)
        self.loss = QtWidgets.QComboBox()
        for name in LOSSES:
            self.loss.addItem(name, name)
            self.loss.setItemData(self.loss.count() - 1, LOSS_NOTES[name], QtCore.Qt.ItemDataRole.ToolTipRole)
        self.loss.setCurrentIndex(LOSSES.index(DEFAULT_LOSS))
        self.device = QtWidgets.QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        self.device.setToolTip("auto: the CUDA GPU when torch sees one, else the CPU")
        of.addRow("Epochs", self.epochs)
        of.addRow("Batch size", self.batch)
        of.addRow("Image size", self.image_size)
        of.addRow("Steps per epoch", self.steps)
        of.addRow("Learning rate", self.lr)
        of.addRow("Loss", self.loss)
        of.addRow("Device", self.device)
        lay.addWidget(opt)

        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("run name (optional)")
        self.name.setToolTip("Added to the run folder's name, after the date and time")
        lay.addWidget(self.name)

    # -- data folders ----------------------------------------------------------------------
    def set_project(self, root: Optional[Path]) -> None:
        """List the project's datasets and annotated frames, keeping the ticks of folders already listed."""
        ticks = {self.data.topLevelItem(i).data(0, QtCore.Qt.ItemDataRole.UserRole):
                 (self._checked(self.data.topLevelItem(i), 2), self._checked(self.data.topLevelItem(i), 3))
                 for i in range(self.data.topLevelItemCount())}
        folders = (project_data(root) if root is not None else []) + self._extra
        self.data.clear()
        n_sets = sum(f.kind == "dataset" for f in folders)
        for f in folders:
            it = QtWidgets.QTreeWidgetItem([f.label, str(f.count), "", ""])
            it.setToolTip(0, str(f.path))
            it.setData(0, QtCore.Qt.ItemDataRole.UserRole, str(f.path))
            it.setData(1, QtCore.Qt.ItemDataRole.UserRole, f.kind)
            is_test = "test" in f.path.name.lower()
            tr, te = ticks.get(str(f.path), (not is_test and (f.kind == "dataset" or n_sets == 0), is_test))
            it.setCheckState(2, QtCore.Qt.CheckState.Checked if tr else QtCore.Qt.CheckState.Unchecked)
            it.setCheckState(3, QtCore.Qt.CheckState.Checked if te else QtCore.Qt.CheckState.Unchecked)
            self.data.addTopLevelItem(it)

    def annotation_folders(self) -> list[Path]:
        """The folders of labelme files in the list (the project's annotated frames and any added)."""
        items = (self.data.topLevelItem(i) for i in range(self.data.topLevelItemCount()))
        return [Path(it.data(0, QtCore.Qt.ItemDataRole.UserRole)) for it in items
                if it.data(1, QtCore.Qt.ItemDataRole.UserRole) == "annotations"]

    @staticmethod
    def _checked(it, col) -> bool:
        return it.checkState(col) == QtCore.Qt.CheckState.Checked

    def set_ticks(self, path, train: Optional[bool] = None, test: Optional[bool] = None) -> None:
        """Tick a folder for training and/or testing (tests and scripts)."""
        for i in range(self.data.topLevelItemCount()):
            it = self.data.topLevelItem(i)
            if Path(it.data(0, QtCore.Qt.ItemDataRole.UserRole)) == Path(path):
                for col, on in ((2, train), (3, test)):
                    if on is not None:
                        it.setCheckState(col, QtCore.Qt.CheckState.Checked if on else QtCore.Qt.CheckState.Unchecked)
                return
        raise DislocError(f"{path}: not in the list of training data")

    def add_folder(self, path, project_root: Optional[Path] = None) -> None:
        from core.learn.traindata import open_source

        src = open_source(path)  # raises a DislocError that says what the folder lacks
        self._extra.append(DataFolder(Path(path), src.kind, len(src.keys)))
        self.set_project(project_root)

    # -- fine-tune start -------------------------------------------------------------------
    def set_checkpoints(self, runs: list[RunInfo], keep: Optional[str] = None) -> None:
        current = keep if keep is not None else self.init.currentData()
        self.init.clear()
        self.init.addItem("new network (random start)", "")
        for label, path in (("shipped default (synthetic)", default_model_path()),
                            ("shipped, for real frames", realistic_model_path())):
            self.init.addItem(label + ("" if path.is_file() else " (not installed)"), str(path))
            if not path.is_file():
                self.init.model().item(self.init.count() - 1).setEnabled(False)
        for r in runs:
            if r.has_best:
                best = r.best
                extra = f", metric {best[1]:.3f}" if best else ""
                self.init.addItem(f"run {r.name} ({r.encoder}{extra})", str(r.best_path))
        if current and self.init.findData(current) < 0 and current != CHOOSE:
            self.init.addItem(Path(current).name, current)
        self.init.addItem("other checkpoint…", CHOOSE)
        self.init.setCurrentIndex(max(0, self.init.findData(current)) if current else 0)
        self._sync_encoder()

    def set_init(self, path: str) -> None:
        i = self.init.findData(str(path))
        if i < 0:
            self.init.insertItem(self.init.count() - 1, Path(path).name, str(path))
            i = self.init.findData(str(path))
        self.init.setCurrentIndex(i)
        self._sync_encoder()

    def _on_init(self, _i: int) -> None:
        if self.init.currentData() == CHOOSE:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Fine-tune from a checkpoint", "",
                                                            "Checkpoints (*.pt);;All files (*)")
            if path:
                self.set_init(path)
            else:
                self.init.setCurrentIndex(0)
        self._sync_encoder()

    def _sync_encoder(self) -> None:
        fine = bool(self.init.currentData()) and self.init.currentData() != CHOOSE
        self.encoder.setEnabled(not fine)
        self.n_masks.setEnabled(not fine)
        self.encoder.setToolTip("The checkpoint decides the network when fine-tuning" if fine else
                                ENCODER_NOTES.get(self.encoder.currentData(), ""))

    # -- the config ----------------------------------------------------------------------------
    def config(self, threads: Optional[int] = None) -> TrainConfig:
        """The TrainConfig of the form (raises DislocError with what to fix)."""
        data, ann, test = [], [], []
        for i in range(self.data.topLevelItemCount()):
            it = self.data.topLevelItem(i)
            path, kind = it.data(0, QtCore.Qt.ItemDataRole.UserRole), it.data(1, QtCore.Qt.ItemDataRole.UserRole)
            if self._checked(it, 2):
                (ann if kind == "annotations" else data).append(path)
            if self._checked(it, 3):
                test.append(path)
        if not data and not ann:
            raise DislocError("no training data ticked: tick Train for a dataset (make one in the Designer with "
                              "Generate dataset, Ctrl+G) or for your annotated frames")
        init = self.init.currentData() or None
        if init == CHOOSE:
            init = None
        if init and not Path(init).is_file():
            raise DislocError(f"{init}: checkpoint to fine-tune from not found; choose another in 'Fine-tune from'")
        if ann and not data and not init:
            raise DislocError("only annotated frames are ticked, and a network from a random start learns little from "
                              "a few frames: press 'Fine-tune on annotated frames' (top left), or choose a model in "
                              "'Fine-tune from'")
        size = self.image_size.value()
        if size % 32:
            raise DislocError(f"image size {size} px: use a multiple of 32 px (e.g. {max(32, size // 32 * 32)})")
        return TrainConfig(data=tuple(data), annotations=tuple(ann), test=tuple(test),
                           encoder=self.encoder.currentData(), n_masks=self.n_masks.value(),
                           epochs=self.epochs.value(), batch_size=self.batch.value(), lr=float(self.lr.value()),
                           loss=self.loss.currentData(), image_size=size, steps_per_epoch=self.steps.value() or None,
                           threads=threads or default_threads(), device=self.device.currentData(), init=init)

    def run_label(self) -> str:
        name = self.name.text().strip()
        init = self.init.currentData()
        base = "finetune" if init and init != CHOOSE else self.encoder.currentData().replace("tu-", "")
        return f"{base}_{name}" if name else base
