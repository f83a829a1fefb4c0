"""CNNs (CloudCNN, EdgeCNN-k), System A encoders, ONNX export/import, ONNX Runtime sessions, data sets, training.

Entry points: ``models.runtime.open_session``, ``models.preprocess.decode_image``, ``models.zoo.ensure_models``,
``models.collaboration.build_edge_onnx`` and ``python -m models build``. Importing this package imports nothing
heavy; import the submodule you need.
"""
