"""What TensorBoard shows by default, shared by the MNIST trainer and crosscheck's runs: scalars
whose charts carry a description, and the custom-scalars layouts (train and test on one chart).

Summaries are built as protos here and handed to a writer's add_summary, so this module needs
tensorboard but not torch."""
from __future__ import annotations

import re

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto import types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from . import tags as T

# The custom-scalars dashboard: one category per kind of run; categories with the same title
# written by several runs are merged by TensorBoard, so every trainer run writes the same one.
TRAINER_LAYOUT = ("Train vs test", (
    ("loss", (T.TRAIN_LOSS, T.TEST_LOSS, T.TEST_LOSS_FULL)),
    ("accuracy", (T.TRAIN_ACCURACY, T.TEST_ACCURACY, T.TEST_ACCURACY_FULL)),
))
SIDE_BY_SIDE_LAYOUT = ("NumPy vs torch", (
    ("loss (one line per side)", (T.TRAIN_LOSS,)),
    ("loss divergence, log10", (T.DIVERGENCE_LOSS,)),
))


class DescribedScalars:
    """Scalar summaries for one writer; a tag's first point carries its description
    (tags.description), which TensorBoard reads from a time series' first point.

    Points are simple values (what torch's add_scalar writes, and what EventAccumulator.Scalars
    reads). TensorBoard's fast loader (its Rust data server, the default) ignores the metadata of
    a simple value, so the first point of a tag is written twice in its event: first as a scalar
    tensor carrying the description, then as the simple value, which replaces it at that step."""

    def __init__(self) -> None:
        self.described: set[str] = set()

    def summary(self, values: dict[str, float]) -> Summary:
        s = Summary()
        for tag, value in values.items():
            if tag not in self.described:
                self.described.add(tag)
                md = scalar_metadata.create_summary_metadata(display_name=tag, description=T.description(tag))
                s.value.add(tag=tag, metadata=md, tensor=TensorProto(
                    dtype=types_pb2.DT_FLOAT, float_val=[float(value)], tensor_shape=TensorShapeProto()))
            s.value.add(tag=tag, simple_value=float(value))
        return s


def layout_summary(*categories: tuple[str, tuple]) -> Summary:
    """A custom-scalars layout: categories of (title, ((chart title, tags), ...)), each chart a
    multiline chart of exactly those tags (anchored regular expressions), open by default."""
    layout = layout_pb2.Layout(category=[
        layout_pb2.Category(title=title, closed=False, chart=[
            layout_pb2.Chart(title=chart, multiline=layout_pb2.MultilineChartContent(
                tag=[f"^{re.escape(tag)}$" for tag in tags]))
            for chart, tags in charts])
        for title, charts in categories])
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()],
                         tensor_shape=TensorShapeProto())
    s = Summary()
    s.value.add(tag=layout_metadata.CONFIG_SUMMARY_TAG, metadata=layout_metadata.create_summary_metadata(),
                tensor=tensor)
    return s
